package ami

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Limits of the packet reader.
const (
	// MaxLineLength is the longest line (without its terminator) accepted in a request.
	// Asterisk's limit is 1024 bytes; Pleiades allows 8 KiB (long Originate variable lists).
	// A longer line is read and thrown away in pieces (memory stays bounded) and the packet
	// is answered with "Failed to parse message: line too long", as in Asterisk.
	MaxLineLength = 8192
	// MaxHeaders is the most lines one request may hold (Asterisk's AST_MAX_MANHEADERS).
	// More are dropped and the packet is answered with "Too many lines in message or
	// allocation failure", as in Asterisk.
	MaxHeaders = 128
)

// Errors returned with a complete but unusable packet by (*Reader).ReadPacket; the server
// answers them with Asterisk's messages (parseErrorMessage).
var (
	ErrLineTooLong  = errors.New("ami: line too long")
	ErrTooManyLines = errors.New("ami: too many lines in message")
)

// parseErrorMessage is the Message of the error response to a refused packet.
func parseErrorMessage(err error) string {
	if errors.Is(err, ErrTooManyLines) {
		return "Too many lines in message or allocation failure"
	}
	return "Failed to parse message: line too long"
}

// Packet is one request (or event) as a list of lines "Key: Value" in arrival order. Lines
// without a colon are kept (they count against MaxHeaders) but match no key.
type Packet struct {
	Lines []string
}

// Get returns the value of the first line whose key is key (case-insensitive), with blanks
// after the colon skipped: Asterisk's astman_get_header. The value is not otherwise trimmed.
func (p *Packet) Get(key string) string {
	v, _ := p.lookup(key, false)
	return v
}

// GetNonEmpty is Get skipping lines whose value is empty (Asterisk reads Action this way).
func (p *Packet) GetNonEmpty(key string) string {
	v, _ := p.lookup(key, true)
	return v
}

func (p *Packet) lookup(key string, skipEmpty bool) (string, bool) {
	for _, l := range p.Lines {
		if len(l) <= len(key) || l[len(key)] != ':' || !strings.EqualFold(l[:len(key)], key) {
			continue
		}
		v := strings.TrimLeft(l[len(key)+1:], " \t")
		if skipEmpty && v == "" {
			continue
		}
		return v, true
	}
	return "", false
}

// All returns the values of every line whose key is key, in order.
func (p *Packet) All(key string) []string {
	var out []string
	for _, l := range p.Lines {
		if len(l) > len(key) && l[len(key)] == ':' && strings.EqualFold(l[:len(key)], key) {
			out = append(out, strings.TrimLeft(l[len(key)+1:], " \t"))
		}
	}
	return out
}

// Variables returns the "Variable: name=value" lines (several pairs may share a line,
// separated by commas, as in Asterisk's astman_get_variables) in order.
func (p *Packet) Variables() []Field {
	var out []Field
	for _, v := range p.All("Variable") {
		for _, pair := range strings.Split(v, ",") {
			name, value, ok := strings.Cut(pair, "=")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				continue
			}
			out = append(out, Field{name, value})
		}
	}
	return out
}

// Bytes returns the packet in wire form, each line followed by CRLF and the whole by an
// empty line.
func (p *Packet) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range p.Lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Reader reads request packets. Lines end with CRLF or a bare LF (as Asterisk accepts); a
// NUL ends a line's content, as in Asterisk's C strings. Memory use is bounded by
// MaxLineLength and MaxHeaders whatever the input.
type Reader struct {
	br *bufio.Reader
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, MaxLineLength+2)}
}

// ReadPacket reads lines up to the next empty line. It returns the packet and nil, or the
// packet (what was kept of it) and ErrLineTooLong or ErrTooManyLines when the packet was
// read to its end but must be refused, or a nil packet and the read error (io.EOF at the
// end of the input; a packet cut short by the end of input is dropped).
func (r *Reader) ReadPacket() (*Packet, error) {
	p := &Packet{}
	var perr error
	for {
		line, long, err := r.readLine()
		if err != nil {
			return nil, err
		}
		if long {
			if perr == nil {
				perr = ErrLineTooLong
			}
			continue
		}
		if line == "" {
			return p, perr
		}
		if len(p.Lines) >= MaxHeaders {
			if perr == nil {
				perr = ErrTooManyLines
			}
			continue
		}
		p.Lines = append(p.Lines, line)
	}
}

// readLine returns one line without its terminator. long is true when the line exceeded
// MaxLineLength (its content is then discarded).
func (r *Reader) readLine() (line string, long bool, err error) {
	b, err := r.br.ReadSlice('\n')
	if err == nil {
		return cleanLine(b), false, nil
	}
	if err != bufio.ErrBufferFull {
		return "", false, err
	}
	// Too long: discard up to and including the next LF.
	for {
		_, err = r.br.ReadSlice('\n')
		if err == nil {
			return "", true, nil
		}
		if err != bufio.ErrBufferFull {
			return "", true, err
		}
	}
}

func cleanLine(b []byte) string {
	b = b[:len(b)-1] // '\n'
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > MaxLineLength {
		b = b[:MaxLineLength]
	}
	return string(b)
}

// builder assembles outgoing packets.
type builder struct {
	b []byte
}

// kv appends "key: value\r\n"; CR and LF in value are replaced by spaces so that no value
// can break the framing.
func (w *builder) kv(key, value string) {
	w.b = append(w.b, key...)
	w.b = append(w.b, ": "...)
	if strings.ContainsAny(value, "\r\n") {
		value = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(value)
	}
	w.b = append(w.b, value...)
	w.b = append(w.b, "\r\n"...)
}

func (w *builder) kvInt(key string, v int) { w.kv(key, strconv.Itoa(v)) }

// end closes the packet with an empty line.
func (w *builder) end() { w.b = append(w.b, "\r\n"...) }
