package queue

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/realtime"
)

// queueLog writes astlogdir/queue_log as Asterisk does, one line per event:
//
//	time|callid|queue|agent|event|data1|data2|...
//
// time in Unix seconds, callid the caller's unique ID ("NONE" for events that are not about
// a call, "MANAGER" for AMI's), agent the member's name ("NONE" for the caller's events).
// With a realtime "queue_log" mapping every line is stored there too (time, callid,
// queuename, agent, event, data1..data5), in the background.
type queueLog struct {
	mu     sync.Mutex // guards f, closed and the send on rtq
	f      *os.File
	closed bool
	rt     Realtime
	log    *slog.Logger
	now    func() time.Time

	rtq  chan []realtime.Field
	done chan struct{}
}

func newQueueLog(dir string, rt Realtime, log *slog.Logger, now func() time.Time) *queueLog {
	l := &queueLog{rt: rt, log: log, now: now}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		log.Error(fmt.Sprintf("queue_log: %v", err))
	}
	f, err := os.OpenFile(filepath.Join(dir, "queue_log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		log.Error(fmt.Sprintf("Unable to open queue log file %s: %v", filepath.Join(dir, "queue_log"), err))
	}
	l.f = f
	if rt != nil {
		l.rtq = make(chan []realtime.Field, 1024)
		l.done = make(chan struct{})
		go l.storeLoop()
	}
	return l
}

func (l *queueLog) storeLoop() {
	defer close(l.done)
	for fs := range l.rtq {
		if !l.rt.Mapped("queue_log") {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := l.rt.Store(ctx, "queue_log", fs...); err != nil {
			l.log.Warn(fmt.Sprintf("queue_log: realtime store: %v", err))
		}
		cancel()
	}
}

// clean keeps a field from breaking the line: '|' and line ends become '_'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '|' || r == '\n' || r == '\r' {
			return '_'
		}
		return r
	}, s)
}

// write logs one event; data are the event's data fields.
func (l *queueLog) write(callid, queue, agent, event string, data ...string) {
	if l == nil {
		return
	}
	now := l.now()
	parts := []string{strconv.FormatInt(now.Unix(), 10), clean(callid), clean(queue), clean(agent), event}
	for _, d := range data {
		parts = append(parts, clean(d))
	}
	line := strings.Join(parts, "|") + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.f != nil {
		if _, err := l.f.WriteString(line); err != nil {
			l.log.Warn(fmt.Sprintf("queue_log: %v", err))
		}
	}
	if l.rtq != nil {
		fs := []realtime.Field{{Name: "time", Value: now.UTC().Format("2006-01-02 15:04:05")}, {Name: "callid", Value: callid},
			{Name: "queuename", Value: queue}, {Name: "agent", Value: agent}, {Name: "event", Value: event}}
		for i := 0; i < 5 && i < len(data); i++ {
			fs = append(fs, realtime.Field{Name: "data" + strconv.Itoa(i+1), Value: data[i]})
		}
		select {
		case l.rtq <- fs:
		default:
			l.log.Warn("queue_log: realtime store falling behind, line dropped from the database (kept in the file)")
		}
	}
}

// close stops the realtime writer (after it stored what was queued) and closes the file;
// later writes are dropped. A second close does nothing.
func (l *queueLog) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	if l.rtq != nil {
		close(l.rtq)
	}
	var err error
	if l.f != nil {
		err = l.f.Close()
		l.f = nil
	}
	l.mu.Unlock()
	if l.done != nil {
		<-l.done
	}
	return err
}
