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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/netaccept"
)

// The control socket protocol: frames of one type byte, a big-endian uint32 length and that
// many bytes of payload, both ways.
//
//	server -> client  'H' hello: "<version>\n<system name>\n<pid>"
//	client -> server  'C' run a command line            server answers 'O'* then 'E' "<status>"
//	client -> server  'V' set this console's verbose level ("3"); -1 = no log lines at all
//	client -> server  'T' complete the line              server answers 'A' (candidates, "\n"-joined)
//	server -> client  'L' a log line, any time
//	server -> client  'S' the command just started streams (Command.Streams): no deadline
//
// Status is 0 for success, 1 for a failed command, 2 for no such command. A client ignores
// frame types it does not know.
const (
	FrameHello    = 'H'
	FrameCommand  = 'C'
	FrameOutput   = 'O'
	FrameEnd      = 'E'
	FrameVerbose  = 'V'
	FrameComplete = 'T'
	FrameAnswer   = 'A'
	FrameLog      = 'L'
	FrameStreams  = 'S'
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
	// Hello is the greeting's text: "<version>\n<system name>"; the server adds its pid.
	Hello func() string
	Log   *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	path   string // the socket Listen created (removed by Close)
	conns  map[net.Conn]struct{}
	ctx    context.Context // commands run with it; Close cancels it (a hangup)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	busy   sync.WaitGroup // commands running now: Close lets them answer first
}

// SocketMode is the control socket's mode: the server's user and group may connect.
const SocketMode = 0o660

// Listen creates the Unix socket at path and serves it until Close. It refuses to replace a
// socket another live server answers on (the error names its pid) and otherwise replaces a
// stale one.
//
// The socket has its mode (SocketMode) from the moment it appears at path: it is bound in a
// private directory (mode 0700, created next to path), given its mode there, and renamed
// into place. Nobody else can reach it before that, and no process-wide umask is changed.
func (s *Server) Listen(path string) error {
	if pid, ok := Answers(path, 200*time.Millisecond); ok {
		return fmt.Errorf("another server (pid %s) is already running on %s", pidText(pid), path)
	}
	ln, err := listenPrivately(path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.path = path
	s.mu.Unlock()
	s.Serve(ln)
	return nil
}

func pidText(pid int) string {
	if pid <= 0 {
		return "unknown"
	}
	return strconv.Itoa(pid)
}

// listenPrivately binds a Unix socket in a fresh 0700 directory beside path, sets its mode and
// renames it to path (replacing whatever stale file is there).
func listenPrivately(path string) (net.Listener, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".ctl")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	private := filepath.Join(tmp, "s")
	ln, err := net.Listen("unix", private)
	if err != nil {
		return nil, err
	}
	// The socket moves: whoever closes the listener removes it at its final path.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(private, SocketMode); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(private, path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// Answers reports whether a server answers on the control socket at path within timeout,
// and its pid (0 when its greeting has none).
func Answers(path string, timeout time.Duration) (pid int, ok bool) {
	cl, err := DialTimeout(path, timeout)
	if err != nil {
		return 0, false
	}
	cl.Close()
	return cl.PID, true
}

// Serve serves connections accepted on ln until Close. Accept errors other than the
// listener's closing (descriptor exhaustion, aborted connections) are retried with backoff
// and logged (internal/netaccept): the control socket never stops answering while the
// server runs.
func (s *Server) Serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		netaccept.Serve(ln, nil, log, "control socket", func(c net.Conn) {
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
		})
	}()
}

// Connections returns how many remote consoles are connected.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops listening, hangs up running commands (their context is cancelled: a
// `console dial` ends) and lets them answer (up to 5 s, so "core stop now" gets its reply),
// disconnects every console and removes the socket.
func (s *Server) Close() {
	s.mu.Lock()
	ln, path, cancel := s.ln, s.path, s.cancel
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
		if path != "" {
			os.Remove(path)
		}
	}
	if cancel != nil {
		cancel()
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
	hello := "\n"
	if s.Hello != nil {
		hello = s.Hello()
	}
	hello += "\n" + strconv.Itoa(os.Getpid())
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
			if c := s.Registry.Find(Split(string(p))); c != nil && c.Streams {
				cn.send(FrameStreams, nil)
			}
			err := s.Registry.Run(s.ctx, string(p), frameWriter{cn}, cn.session)
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
	c   net.Conn
	r   *bufio.Reader
	wmu sync.Mutex
	// Hello is the server's greeting; Version, System and PID are its lines.
	Hello           string
	Version, System string
	PID             int
	// OnLog receives log lines that arrive; nil drops them.
	OnLog func(line string)
	// Timeout, when not zero, bounds how long Run and Complete wait for the server: when
	// no frame of the answer (output, end) arrives for that long, they close the connection
	// and return an error wrapping ErrTimeout. A command that streams (Command.Streams)
	// runs without a deadline once the server said so.
	Timeout time.Duration

	frames chan frame
	done   chan struct{}
	err    error
}

// ErrTimeout is wrapped by the errors of a Client whose server did not answer in time.
var ErrTimeout = errors.New("the server did not answer in time")

type frame struct {
	typ byte
	p   []byte
}

// Dial connects to the control socket at path and waits for the server's greeting without
// a limit. Prefer DialTimeout.
func Dial(path string) (*Client, error) { return DialTimeout(path, 0) }

// DialTimeout connects to the control socket at path and reads the server's greeting, both
// within timeout (0: no limit). A server whose socket accepts connections but that does not
// greet (it stopped accepting, or it hangs) gives an error wrapping ErrTimeout.
func DialTimeout(path string, timeout time.Duration) (*Client, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
	}
	cl := &Client{c: c, r: bufio.NewReader(c), frames: make(chan frame, 64), done: make(chan struct{})}
	typ, p, err := ReadFrame(cl.r)
	if err != nil || typ != FrameHello {
		c.Close()
		var ne net.Error
		switch {
		case err == nil:
			err = errors.New("cli: the server did not greet")
		case errors.As(err, &ne) && ne.Timeout():
			err = fmt.Errorf("%w: connected to %s but got no greeting within %v", ErrTimeout, path, timeout)
		}
		return nil, err
	}
	c.SetReadDeadline(time.Time{})
	cl.Hello = string(p)
	parts := strings.SplitN(cl.Hello, "\n", 3)
	cl.Version = parts[0]
	if len(parts) > 1 {
		cl.System = parts[1]
	}
	if len(parts) > 2 {
		cl.PID, _ = strconv.Atoi(parts[2])
	}
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

// next returns the next frame of an answer within Timeout (timer nil: no limit).
func (cl *Client) next(timer *time.Timer) (frame, error) {
	var expired <-chan time.Time
	if timer != nil {
		timer.Reset(cl.Timeout)
		expired = timer.C
	}
	select {
	case f, ok := <-cl.frames:
		if !ok {
			if cl.err == nil || errors.Is(cl.err, io.EOF) {
				return frame{}, errors.New("the server closed the connection")
			}
			return frame{}, cl.err
		}
		return f, nil
	case <-expired:
		cl.c.Close()
		return frame{}, fmt.Errorf("%w: nothing from the server for %v", ErrTimeout, cl.Timeout)
	}
}

func (cl *Client) timer() *time.Timer {
	if cl.Timeout <= 0 {
		return nil
	}
	return time.NewTimer(cl.Timeout)
}

// ask sends one request and hands each frame of its answer to handle until handle reports
// the answer complete, within Timeout (a FrameStreams frame lifts the deadline).
func (cl *Client) ask(typ byte, p []byte, handle func(f frame) (complete bool)) error {
	if err := cl.send(typ, p); err != nil {
		return err
	}
	t := cl.timer()
	if t != nil {
		defer t.Stop()
	}
	for {
		f, err := cl.next(t)
		if err != nil {
			return err
		}
		if f.typ == FrameStreams {
			t = nil
			continue
		}
		if handle(f) {
			return nil
		}
	}
}

// Run runs one command, copying its output to out, and returns its status
// (0 ok, 1 failed, 2 no such command).
func (cl *Client) Run(line string, out io.Writer) (int, error) {
	status := 1
	err := cl.ask(FrameCommand, []byte(line), func(f frame) bool {
		switch f.typ {
		case FrameOutput:
			out.Write(f.p)
		case FrameEnd:
			status, _ = strconv.Atoi(string(f.p))
			return true
		}
		return false
	})
	if err != nil {
		return 1, err
	}
	return status, nil
}

// Complete asks the server for the completions of line's last word.
func (cl *Client) Complete(line string) ([]string, error) {
	var cands []string
	err := cl.ask(FrameComplete, []byte(line), func(f frame) bool {
		if f.typ != FrameAnswer {
			return false
		}
		if len(f.p) > 0 {
			cands = strings.Split(string(f.p), "\n")
		}
		return true
	})
	return cands, err
}

// Close disconnects.
func (cl *Client) Close() error { return cl.c.Close() }
