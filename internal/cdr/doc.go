// Package cdr is Pleiades' call detail records (Asterisk's main/cdr.c and its cdr_*
// backends): an Engine follows a server's channel events (internal/channel) and the
// applications the dialplan starts on call legs, builds records with Asterisk's fields and
// rules, and posts them to Backends (Master.csv, AMI Cdr events, databases) through named,
// bounded queues that never block a call.
//
// # The rules (Asterisk 12+'s CDR engine, written anew)
//
//   - Every channel starts a record as party A when it is created, except a channel another
//     one dials: that becomes party B (dstchannel, peeraccount) of its caller's record.
//   - A Dial makes one record per party A/B pair: the first destination takes the caller's
//     current record, each other destination (Dial(SIP/a&SIP/b)) or a later Dial starts a
//     new record (start = the DialBegin) with the same party A.
//   - The disposition of a dial record is its DialEnd status: ANSWER → ANSWERED, BUSY → BUSY,
//     NOANSWER/CANCEL → NO ANSWER, CONGESTION → CONGESTION with congestion=yes else FAILED,
//     anything else FAILED. A record without a dial is ANSWERED when party A was answered,
//     else decided by the hangup cause (busy, congestion, failed, NO ANSWER).
//   - answer is when the pair was answered (party B up) or, without a party B, when party
//     A went up; end is when the record was finalized: the dial failed, a party left the
//     bridge or hung up, or (endbeforehexten=yes, the default) party A started the "h"
//     extension. duration and billsec are whole seconds (truncated; initiatedseconds counts
//     a started second of 500 ms or more).
//   - lastapp/lastdata, dst/dcontext, src/clid and accountcode follow party A while the
//     record is built; the "h" extension never changes them.
//   - Records are posted when party A hangs up, oldest first; sequence numbers them in the
//     order they were created. With unanswered=no (the default) a record never answered
//     and without a party B is not posted. NoCDR drops the channel's records.
//   - SetDstChannel (app_queue's updatecdr) puts a name in place of party B's channel in
//     dstchannel of the caller's record with that party B: the queue member's name.
//   - A party A whose records are all finished (a dial that failed, a bridge that ended)
//     and that goes on to another application elsewhere in the dialplan starts a new
//     record there (start = then; userfield and CDR variables carried over), as Asterisk's
//     finalized state asks for one at a context/extension/priority change.
//
// Simplifications where Asterisk's state machine goes further: ForkCDR ends the current
// record and starts another (option r resets the CDR variables, the other options are
// accepted and ignored); CDR_PROP(disable) turns the channel's records off and on again,
// CDR_PROP(party_a) is accepted and does nothing (a channel is always party A of its own
// records); CDR(name,u) options are ignored; parking and transfers do not exist yet.
//
// # The call's goroutine
//
// Channel events, the applications a leg starts and CDR() writes are queued (stamped with
// their time) for the engine's goroutine, which applies them every 10 ms; CDR() reads and
// the other calls apply what is queued first, so the dialplan sees its own writes. A call
// pays for a queue append, not for the state machine: bench/cdrbench.
//
// # Queues
//
// Each backend has its own queue (at most QueueLimit records) and goroutine: a backend that
// fails keeps its records and is offered the same ones again, in order, with backoff
// (100 ms doubling to 5 s). A backend added with a spool file (the database backends:
// astspooldir/cdr/<backend>.queue) mirrors its queue there, one JSON record a line: a post
// only queues in memory (no file I/O on the call's goroutine), the backend's goroutine
// appends what was posted before each write attempt and while it waits to retry, and only
// records already in the file are offered to the backend. A clean stop saves everything;
// a crash loses at most what was posted in the last instant. Records a stop left in the
// file are written first at the next start. The records written at the head of the file
// are counted in <spool>.done and the file is compacted every 5,000 of them, so a long
// backlog drains in linear time; when the queue empties the file is emptied (truncated in
// place while records keep coming, removed after a second without any and at a stop). A
// file that cannot be written is logged and the queue goes on in memory. Records are
// spooled by Record.AppendJSON (encoding/json's bytes without reflection). "cdr show
// status" shows each queue's backlog. A reload replaces a backend's queue without losing or
// doubling a record: the records finished while it is replaced are held and go to the new
// queue after the old one's, and the old queue lets a write under way finish (up to 5 s)
// rather than cut it off after the database may have committed it.
//
// A backend's goroutine, woken by a record, gathers records for 250 ms (up to 500) into
// one transaction: at 1,000 records/s a database gets one commit for ~250 records (one
// COPY into PostgreSQL, one fsync of master.db), and a record is in its database within
// ~0.3 s of the call's end. cdr_pgsql and master.db take the transaction's records as they
// come, every 10 ms (diskqueue.Streamer): the COPY's rows are sent and master.db's
// INSERTs (of 1 to 16 rows) run meanwhile, so their work is spread over the 250 ms
// instead of taking a processor for several ms at its end; Master.csv's lines are made as
// the records come and written at the end. cdr_custom and AMI get the whole batch at the
// end. Figures: docs/performance.md.
//
// With CDRs off (cdr.conf enable=no) and no record left being built, the engine drops a
// channel's events where they are made: a call pays nothing for it. Records begun before
// CDRs were turned off are finished; a reload that turns them on records the channels
// created from then on.
package cdr
