// Package cel is Pleiades' channel event logging (Asterisk's main/cel.c and cel_manager):
// an Engine turns a server's channel events and the applications the dialplan starts into
// CEL events (CHAN_START, ANSWER, APP_START/APP_END, BRIDGE_ENTER/BRIDGE_EXIT, HANGUP,
// CHAN_END, LINKEDID_END) filtered by cel.conf's events= and apps=, and hands them to sinks
// (cel_manager: AMI "CEL" events, class cdr; cel_pgsql: Asterisk's cel table, through a
// bounded memory queue drained in order, see PgSQL).
//
// Choices where Asterisk's own engine goes further: APP_END is sent when the channel starts
// its next application or hangs up (the dialplan reports starts only); the events Pleiades
// has no source for (PARK_START, PICKUP, FORWARD, LINKEDID_END across servers, USER_DEFINED
// from CELGenUserEvent) are accepted in events= and never sent; cel_odbc is not there yet,
// and cel_pgsql's queue is in memory (a stop loses what waits; CDRs are the records kept on
// disk).
package cel
