package httpapi

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// password_format=crypt: the crypt(3) hashes that `mkpasswd -m sha-512` (Asterisk's advice),
// `mkpasswd -m sha-256` and `htpasswd -B` make: SHA-crypt "$6$" and "$5$" (Ulrich Drepper's
// algorithm, written here) and bcrypt "$2a$"/"$2b$"/"$2y$" (golang.org/x/crypto/bcrypt).
// MD5-crypt "$1$" and traditional DES crypt are refused at configuration time.

var errCryptFormat = errors.New(`unsupported crypt hash: want "$6$..." (mkpasswd -m sha-512), "$5$..." or bcrypt "$2b$..."`)

func checkCryptHash(h string) error {
	switch {
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		if _, _, _, _, ok := splitSHACrypt(h); !ok {
			return errors.New("malformed SHA-crypt hash")
		}
		return nil
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return err
		}
		return nil
	}
	return errCryptFormat
}

// checkPassword compares a password given by a client with a user's configured password.
func (u *user) checkPassword(pw string) bool {
	if !u.crypt {
		return subtle.ConstantTimeCompare([]byte(pw), []byte(u.password)) == 1
	}
	h := u.password
	switch {
	case strings.HasPrefix(h, "$2"):
		return bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)) == nil
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		got, ok := shaCrypt([]byte(pw), h)
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(h)) == 1
	}
	return false
}

// splitSHACrypt splits "$6$[rounds=N$]salt$hash".
func splitSHACrypt(h string) (id string, rounds int, custom bool, salt string, ok bool) {
	id = h[:3]
	rest := h[3:]
	rounds = 5000
	if r, ok2 := strings.CutPrefix(rest, "rounds="); ok2 {
		n, tail, found := strings.Cut(r, "$")
		if !found {
			return "", 0, false, "", false
		}
		v, err := strconv.Atoi(n)
		if err != nil {
			return "", 0, false, "", false
		}
		rounds, custom, rest = min(max(v, 1000), 999999999), true, tail
	}
	salt, _, _ = strings.Cut(rest, "$")
	if len(salt) > 16 {
		salt = salt[:16]
	}
	return id, rounds, custom, salt, true
}

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// shaCrypt computes the SHA-crypt string of pw with the algorithm, rounds and salt of setting.
func shaCrypt(pw []byte, setting string) (string, bool) {
	id, rounds, custom, salt, ok := splitSHACrypt(setting)
	if !ok {
		return "", false
	}
	var newHash func() hash.Hash
	var order [][3]int
	var tail []int
	if id == "$6$" {
		newHash = sha512.New
		for k := 0; k < 21; k++ {
			a, b, c := k, k+21, k+42
			switch k % 3 {
			case 0:
				order = append(order, [3]int{a, b, c})
			case 1:
				order = append(order, [3]int{b, c, a})
			case 2:
				order = append(order, [3]int{c, a, b})
			}
		}
		tail = []int{63}
	} else {
		newHash = sha256.New
		for k := 0; k < 10; k++ {
			a, b, c := k, k+10, k+20
			switch k % 3 {
			case 0:
				order = append(order, [3]int{a, b, c})
			case 1:
				order = append(order, [3]int{c, a, b})
			case 2:
				order = append(order, [3]int{b, c, a})
			}
		}
		tail = []int{31, 30}
	}
	sb := []byte(salt)
	h := newHash()
	size := h.Size()

	h.Write(pw)
	h.Write(sb)
	h.Write(pw)
	bSum := h.Sum(nil)

	h.Reset()
	h.Write(pw)
	h.Write(sb)
	n := len(pw)
	for ; n > size; n -= size {
		h.Write(bSum)
	}
	h.Write(bSum[:n])
	for n = len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(bSum)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)

	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	dp := h.Sum(nil)
	p := make([]byte, 0, len(pw))
	for len(p) < len(pw) {
		p = append(p, dp[:min(size, len(pw)-len(p))]...)
	}

	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(sb)
	}
	ds := h.Sum(nil)
	sp := make([]byte, 0, len(sb))
	for len(sp) < len(sb) {
		sp = append(sp, ds[:min(size, len(sb)-len(sp))]...)
	}

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sp)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	out.WriteString(id)
	if custom {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt)
	out.WriteByte('$')
	b64 := func(w uint32, n int) {
		for range n {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, o := range order {
		b64(uint32(c[o[0]])<<16|uint32(c[o[1]])<<8|uint32(c[o[2]]), 4)
	}
	if len(tail) == 1 {
		b64(uint32(c[tail[0]]), 2)
	} else {
		b64(uint32(c[tail[0]])<<8|uint32(c[tail[1]]), 3)
	}
	return out.String(), true
}
