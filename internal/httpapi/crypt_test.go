package httpapi

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Vectors made with `openssl passwd -5/-6` (the first two are also in Drepper's SHA-crypt spec).
func TestSHACrypt(t *testing.T) {
	for _, c := range []struct{ pw, hash string }{
		{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"a", "$5$ab$WGOp4rrnVkzd41QtCddYFTEQ9dQil8O7VF2OXqtI3/7"},
		{"a much longer password that exceeds sixty-four bytes in length for the loop ok", "$6$x$7uNTbxncBucAVHpLfOl1EB18JJNaeqkctYRqNokujqjfOi43dfU12FcSN.g/mUMpJH.Z3SC9TyQ9L71OnVBIE/"},
	} {
		got, ok := shaCrypt([]byte(c.pw), c.hash)
		if !ok || got != c.hash {
			t.Errorf("shaCrypt(%q, %q) = %q", c.pw, c.hash, got)
		}
		u := &user{password: c.hash, crypt: true}
		if !u.checkPassword(c.pw) || u.checkPassword(c.pw+"x") {
			t.Errorf("checkPassword wrong for %q", c.hash)
		}
	}
}

func TestCheckPasswordFormats(t *testing.T) {
	bh, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := &user{password: string(bh), crypt: true}
	if checkCryptHash(u.password) != nil || !u.checkPassword("s3cret") || u.checkPassword("nope") {
		t.Error("bcrypt")
	}
	p := &user{password: "plain"}
	if !p.checkPassword("plain") || p.checkPassword("plai") {
		t.Error("plain")
	}
	for _, h := range []string{"$1$abc$def", "abJnggxhB/yWI", "", "$6$rounds=x$salt$h"} {
		if checkCryptHash(h) == nil {
			t.Errorf("checkCryptHash(%q) accepted", h)
		}
	}
}
