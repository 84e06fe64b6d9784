// Package cel is Pleiades' channel event logging (Asterisk's main/cel.c, cel_manager,
// cel_pgsql and cel_odbc): an Engine turns a server's channel events and the applications
// the dialplan starts into CEL events (CHAN_START, ANSWER, APP_START/APP_END,
// BRIDGE_ENTER/BRIDGE_EXIT, HANGUP, CHAN_END, LINKEDID_END) filtered by cel.conf's events=
// and apps=, and hands them to sinks:
//
//   - cel_manager (ManagerSink): AMI "CEL" events, class cdr;
//   - cel_pgsql (PgSQL): Asterisk's cel table through pgx (package pgtable);
//   - cel_odbc (ODBC): one cel_odbc.conf section per table on a realtime connection
//     (res_odbc.conf's, or "driver:name"), its columns read and filled by name as
//     cdr_adaptive_odbc fills its table (package adaptive), with alias, static and filter.
//
// The database backends are Backends run behind a Queue (Start): a bounded queue drained in
// order by its own goroutine and mirrored in a spool file (package diskqueue, the CDR
// backends' queue), so a database that is down or slow never holds up a call and events a
// stop leaves waiting are written at the next start, once each, in order. "cel show status"
// (Commands) lists what is tracked and each backend's backlog.
//
// Choices where Asterisk's own engine goes further: APP_END is sent when the channel starts
// its next application or hangs up (the dialplan reports starts only); the events Pleiades
// has no source for (PARK_START, PICKUP, FORWARD, LINKEDID_END across servers, USER_DEFINED
// from CELGenUserEvent) are accepted in events= and never sent, so cel_odbc's
// show_user_defined changes nothing. cel_odbc writes eventtype as the event's name whatever
// the column's type (Asterisk writes the number into a numeric column: Pleiades reads only
// the column names), accepts charset without converting (values are bound as Unicode, the
// ODBC driver converts to the table's character set) and accepts allowleapsecond (Go's
// clock has no second 60). With CEL off (enable=no, the default) the engine follows no
// channel at all, so that calls pay nothing for it; a reload that turns it on records the
// channels created from then on (one already up gives its later events, no LINKEDID_END).
package cel
