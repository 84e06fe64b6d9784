package diskqueue

import (
	"sync"
	"time"
)

// Background work that follows calls (a queue's save and its Writer's write, the CDR
// engine's cycle) runs in pieces of about 0.1 ms of CPU: one piece at a time in the whole
// server (StartPiece/EndPiece), and a GiveWay pause between two pieces of the same work.
// On a busy server calls being set up then always find a processor soon, where a batch
// written in one go (250 records: a few ms of CPU on each of several backends at once)
// held them up: the p99 of a call's setup moved by tens of per cent with CDRs on, for a
// few per cent of CPU (docs/performance.md, call detail records). A batch takes longer to
// write (~1 ms more per piece), which no caller waits for.
var turn sync.Mutex

// StartPiece waits for the background turn; EndPiece gives it back. Never hold it across
// a wait for something outside the process (a database's reply): a slow database must not
// hold up the other backends.
func StartPiece() { turn.Lock() }

// EndPiece gives the background turn back.
func EndPiece() { turn.Unlock() }

// giveWayFor is GiveWay's pause: 0.1 ms pauses still left slow calls bunched around the
// writes (docs/performance.md).
const giveWayFor = time.Millisecond

// GiveWay pauses the calling goroutine between two pieces of background work.
func GiveWay() { time.Sleep(giveWayFor) }

// encodeGiveWay is how many items a save encodes (and writes) in one piece.
const encodeGiveWay = 64
