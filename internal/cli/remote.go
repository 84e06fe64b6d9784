package cli

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The control socket protocol: frames of one type byte, a big-endian uint32 length and that
// many bytes of payload, both ways.
//
//	server -> client  'H' hello: "<version>\n<system name>"
//	client -> server  'C' run a command line            server answers 'O'* then 'E' "<status>"
//	client -> server  'V' set this console's verbose level ("3"); -1 = no log lines at all
//	client -> server  'T' complete the line              server answers 'A' (candidates, "\n"-joined)
//	server -> client  'L' a log line, any time
//
// Status is 0 for success, 1 for a failed command, 2 for no such command.
const (
	FrameHello    = 'H'
	FrameCommand  = 'C'
	FrameOutput   = 'O'
	FrameEnd      = 'E'
	FrameVerbose  = 'V'
	FrameComplete = 'T'
	FrameAnswer   = 'A'
	FrameLog      = 'L'
)

// maxFrame bounds a frame so a broken peer cannot make us allocate without limit.
const maxFrame = 16 << 20

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("cli: frame of %d bytes is too large", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf, nil
}

// LogAttacher attaches a console to the logger: write receives each log line the console
// should show; the returned Session carries its verbose level and detach removes it.
type LogAttacher func(verbose int, write func(line string)) (s Session, detach func())

// Server serves the control socket.
type Server struct {
	Registry *Registry
	Attach   LogAttacher
	Hello    func() string
	Log      *slog.Logger

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	busy  sync.WaitGroup // commands running now: Close lets them answer first
}

// Listen creates the Unix socket at path (mode 0660), replacing a stale one, and serves it
// until Close. It refuses to replace a socket another live server answers on.
func (s *Server) Listen(path string) error {
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("another server is already running on %s", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return err
	}
	s.mu.Lock()
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	return nil
}

// Connections returns how many remote consoles are connected.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops listening, lets running commands answer (up to 5 s, so "core stop now" gets
// its reply), disconnects every console and removes the socket.
func (s *Server) Close() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		path := ln.Addr().String()
		ln.Close()
		os.Remove(path)
	}
	answered := make(chan struct{})
	go func() { s.busy.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// conn is one remote console. Frames are written under wmu so log lines never split output.
type conn struct {
	c       net.Conn
	wmu     sync.Mutex
	w       *bufio.Writer
	session Session
	detach  func()

	// Log lines go through a bounded queue drained by their own goroutine, so a console
	// that reads slowly never holds up the logger (and with it every other module).
	logq    chan string
	dropped atomic.Int64
}

// logQueueLen bounds the log lines waiting for one remote console; past it lines are dropped
// and the console is told how many.
const logQueueLen = 4096

func (cn *conn) queueLog(line string) {
	select {
	case cn.logq <- line:
	default:
		cn.dropped.Add(1)
	}
}

func (cn *conn) drainLogs() {
	for line := range cn.logq {
		if n := cn.dropped.Swap(0); n > 0 {
			if cn.send(FrameLog, fmt.Appendf(nil, "[%d log lines dropped: this console reads too slowly]\n", n)) != nil {
				return
			}
		}
		if cn.send(FrameLog, []byte(line)) != nil {
			return
		}
	}
}

func (cn *conn) send(typ byte, p []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	cn.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := WriteFrame(cn.w, typ, p); err != nil {
		return err
	}
	return cn.w.Flush()
}

// frameWriter sends everything written to it as output frames.
type frameWriter struct{ cn *conn }

func (f frameWriter) Write(p []byte) (int, error) {
	if err := f.cn.send(FrameOutput, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// noLogSession is the session of a console that takes no log lines (-rx without -v).
type noLogSession struct{ v int }

func (n *noLogSession) SetVerbose(l int) { n.v = l }
func (n *noLogSession) Verbose() int     { return n.v }

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	cn := &conn{c: c, w: bufio.NewWriter(c), session: &noLogSession{}}
	defer func() {
		if cn.detach != nil {
			cn.detach() // after it returns the logger calls queueLog no more
		}
		if cn.logq != nil {
			close(cn.logq) // the drainer ends once the connection is closed or the queue empty
		}
	}()
	hello := ""
	if s.Hello != nil {
		hello = s.Hello()
	}
	if cn.send(FrameHello, []byte(hello)) != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		typ, p, err := ReadFrame(r)
		if err != nil {
			return
		}
		switch typ {
		case FrameVerbose:
			n, err := strconv.Atoi(strings.TrimSpace(string(p)))
			if err != nil {
				continue
			}
			if n < 0 {
				if cn.detach != nil {
					cn.detach()
					cn.detach = nil
				}
				cn.session = &noLogSession{}
				continue
			}
			if cn.detach != nil {
				cn.session.SetVerbose(n)
				continue
			}
			if s.Attach != nil {
				if cn.logq == nil {
					cn.logq = make(chan string, logQueueLen)
					go cn.drainLogs()
				}
				cn.session, cn.detach = s.Attach(n, cn.queueLog)
			}
		case FrameCommand:
			s.busy.Add(1)
			err := s.Registry.Run(context.Background(), string(p), frameWriter{cn}, cn.session)
			status := "0"
			switch {
			case errors.Is(err, ErrNoSuchCommand):
				status = "2"
			case err != nil:
				status = "1"
			}
			err = cn.send(FrameEnd, []byte(status))
			s.busy.Done()
			if err != nil {
				return
			}
		case FrameComplete:
			cands := s.Registry.Complete(string(p))
			if cn.send(FrameAnswer, []byte(strings.Join(cands, "\n"))) != nil {
				return
			}
		default:
			if s.Log != nil {
				s.Log.Warn("control socket: unknown frame type", "type", string(typ))
			}
			return
		}
	}
}

// Client is a remote console's connection to a running server.
type Client struct {
	c     net.Conn
	r     *bufio.Reader
	wmu   sync.Mutex
	Hello string
	// OnLog receives log lines that arrive; nil drops them.
	OnLog func(line string)

	frames chan frame
	done   chan struct{}
	err    error
}

type frame struct {
	typ byte
	p   []byte
}

// Dial connects to the control socket at path.
func Dial(path string) (*Client, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	cl := &Client{c: c, r: bufio.NewReader(c), frames: make(chan frame, 64), done: make(chan struct{})}
	typ, p, err := ReadFrame(cl.r)
	if err != nil || typ != FrameHello {
		c.Close()
		if err == nil {
			err = errors.New("cli: the server did not greet")
		}
		return nil, err
	}
	cl.Hello = string(p)
	go cl.readLoop()
	return cl, nil
}

func (cl *Client) readLoop() {
	defer close(cl.done)
	for {
		typ, p, err := ReadFrame(cl.r)
		if err != nil {
			cl.err = err
			close(cl.frames)
			return
		}
		if typ == FrameLog {
			if cl.OnLog != nil {
				cl.OnLog(string(p))
			}
			continue
		}
		cl.frames <- frame{typ, p}
	}
}

// Done is closed when the server goes away.
func (cl *Client) Done() <-chan struct{} { return cl.done }

func (cl *Client) send(typ byte, p []byte) error {
	cl.wmu.Lock()
	defer cl.wmu.Unlock()
	return WriteFrame(cl.c, typ, p)
}

// SetVerbose sets this console's verbose level; -1 stops log lines.
func (cl *Client) SetVerbose(n int) error {
	return cl.send(FrameVerbose, []byte(strconv.Itoa(n)))
}

// Run runs one command, copying its output to out, and returns its status
// (0 ok, 1 failed, 2 no such command).
func (cl *Client) Run(line string, out io.Writer) (int, error) {
	if err := cl.send(FrameCommand, []byte(line)); err != nil {
		return 1, err
	}
	for f := range cl.frames {
		switch f.typ {
		case FrameOutput:
			out.Write(f.p)
		case FrameEnd:
			n, _ := strconv.Atoi(string(f.p))
			return n, nil
		}
	}
	if cl.err == nil || errors.Is(cl.err, io.EOF) {
		return 1, errors.New("the server closed the connection")
	}
	return 1, cl.err
}

// Complete asks the server for the completions of line's last word.
func (cl *Client) Complete(line string) ([]string, error) {
	if err := cl.send(FrameComplete, []byte(line)); err != nil {
		return nil, err
	}
	for f := range cl.frames {
		if f.typ == FrameAnswer {
			if len(f.p) == 0 {
				return nil, nil
			}
			return strings.Split(string(f.p), "\n"), nil
		}
	}
	return nil, errors.New("the server closed the connection")
}

// Close disconnects.
func (cl *Client) Close() error { return cl.c.Close() }
