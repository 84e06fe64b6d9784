// Package voicemail is Pleiades' app_voicemail: mailboxes from voicemail.conf and the realtime
// voicemail family, messages kept in Asterisk's spool layout, its voicemail_messages table or
// the cluster's NATS JetStream, the VoiceMail, VoiceMailMain and VoiceMailPurge applications
// with Asterisk's prompts, MAILBOX_EXISTS and VM_INFO, MWI computed from the stored messages,
// the "voicemail" CLI commands and the VoicemailUsersList/VoicemailRefresh manager actions.
//
// # Configuration
//
// voicemail.conf as Asterisk reads it: [general] (format, serveremail, attach, maxmsg, maxsecs
// or maxmessage, minsecs or minmessage, maxsilence, silencethreshold, maxlogins, skipms,
// review, operator, saycid, sendvoicemail, nextaftercmd, pbxskip, fromstring, emailsubject,
// emailbody, mailcmd, pollmailboxes, pollfreq, aliasescontext, odbcstorage, odbctable, and
// Pleiades' storage, natsbucket, natsreplicas; every other variable is kept
// in General.Vars), [zonemessages] (name=timezone|format, the timezone checked), and every
// other section a context of mailboxes: "1234 => 4242,John Doe,john@example.com,
// pager@example.com,attach=yes|tz=eastern" (password, full name, email, pager, options
// separated by '|'). Templates and inheritance come from package conf. A value that is not
// what its variable takes (a number, a boolean, a timezone, an option without '=') is an
// error naming file:line, and nothing of that file is used (a reload keeps the running
// configuration). A later line for the same mailbox wins, as in Asterisk.
//
// A mailbox voicemail.conf does not have is looked up in the realtime family "voicemail"
// (Asterisk's table: context, mailbox, password, fullname, email, pager and option columns)
// when extconfig.conf maps it, by mailbox and context; a database error is reported as such,
// never taken for "no such mailbox".
//
// A password changed in VoiceMailMain goes back where it came from: the realtime row (by
// uniqueid, else mailbox and context), or the mailbox's own line of voicemail.conf, rewritten
// in place through a temporary file (the rest of the file, comments included, untouched). The
// line must still be the mailbox's with the old password, otherwise nothing is written: the
// file changed since it was loaded. A password that starts with '-' cannot be changed (the
// user hears vm-sorry); the caller may log in with or without the '-'.
//
// # Storage
//
// Store is the interface of message storage; every backend numbers a folder's messages from
// 0 without gaps (Delete and Move renumber, as Asterisk's resequencing) and makes a message
// visible only once its audio and metadata are both stored, so a write that fails counts no
// half message. The conformance tests in store_test.go are the contract a new backend must
// pass.
//
// FileStore, the default, is Asterisk's spool layout under astspooldir/voicemail:
// <context>/<mailbox>/<folder>/msgNNNN.wav (16-bit 8 kHz mono, Asterisk's "wav") and
// msgNNNN.txt (the [message] section: origmailbox, context, macrocontext, exten, rdnis,
// priority, callerchan, callerid, origdate, origtime, category, msg_id, flag, duration).
// It is the default because it is what an Asterisk installation already has (its spool can
// be taken over as is, and Asterisk tools read ours), it needs nothing besides a disk, and a
// cluster can share it the way Asterisk clusters do, over a shared file system (the cluster
// integration test runs two servers on one spool). A message is written as its .wav then its
// .txt, each to a temporary name renamed into place; counting looks at the .txt files only
// (as Asterisk does), so a crash between the two leaves audio that is not a message. Writes
// to one mailbox are serialized within a server; two servers writing the same mailbox at the
// same moment over a shared spool are not locked against each other (Asterisk's lock files
// are not taken). Only "wav" is recorded, whatever format lists.
//
// DBStore is Asterisk's ODBC storage: the voicemail_messages table (dir, msgnum, context,
// macrocontext, callerid, origtime, duration, recording, flag, category, mailboxuser,
// mailboxcontext, msg_id) through a realtime driver's raw SQL (realtime.Querier), chosen with
// Asterisk's "odbcstorage = <res_odbc connection>" or, Pleiades' form, "odbcstorage =
// <driver>/<connection>" with driver pgsql, mysql, sqlite3 or odbc (res_pgsql.conf's
// connection is "general"), and "odbctable" (default voicemail_messages). This is how a
// cluster without a shared file system shares messages, with each other and with Asterisk
// servers on the same table: dir is the folder's path under astspooldir as Asterisk writes
// it, so the servers must have one astspooldir, as Asterisk's must. recording holds the whole
// WAV file. A message is a single INSERT (complete or absent); two servers saving to a
// folder at once race for the next number and the loser takes the one after (the (dir,
// msgnum) key decides); Move copies the row before deleting it. The origdate, exten,
// priority and callerchan of a message are not columns of the table and are not kept.
// A store that cannot be set up (no such driver or connection) fails the load or reload, and
// a reload keeps the running store.
//
// NATSStore (storage = nats, Pleiades' own) keeps the messages in the cluster's NATS
// JetStream, for a cluster with neither a shared file system nor a database: the NATS
// connection of package cluster (the embedded server with cluster.conf jetstream=yes, or an
// external NATS with JetStream). A KV bucket (natsbucket, default pleiades_voicemail) holds one
// key per mailbox, "<context>.<mailbox>" (other characters than letters, digits, '-' and '_'
// written =XX), whose value is the mailbox's index: per folder, its messages in order, each an
// id and all of Meta. A message's number is its place in the list, so renumbering is rewriting
// the list. The recording is the object "<context>.<mailbox>/<id>" (a WAV file) of the object
// store of the same name. Every change of an index is a compare-and-set on the key's revision,
// retried when another server wrote first, so concurrent saves, moves and deletes on one
// mailbox from several servers lose nothing and number nothing twice; a move is one write.
// Save stores the recording, then the index entry (a failed index write removes the
// recording); Delete removes the entry, then the recording. The buckets are made on first use
// with natsreplicas copies (default 1: the messages live on one JetStream server; with 3 on a
// JetStream cluster of three or more they survive the loss of one, the test
// TestNATSStoreThreeReplicasSurviveALostServer shows). A NATS without JetStream fails the configuration; a
// JetStream not ready yet (a JetStream cluster elects its leader seconds after start) is
// waited for in the background before the start-up MWI counts are published, and operations
// fail (vm-sorry) until it answers; a request that finds no responder (a stream electing its
// leader after a server was lost) is sent again for up to 5 s. Whether the NATS runs JetStream
// at all is read from its INFO. natsreplicas above the number of JetStream servers
// cannot be placed: the buckets are not made and every operation fails with NATS's error
// (logged). A mailbox's index is one NATS message, so it must fit max_payload (1 MB by
// default: some 2,500 messages over all its folders; maxmsg is 100 per folder by default).
// Not tried with sites (NATS gateways). The file store stays the default: it is what an Asterisk
// server has, needs nothing more, and Asterisk's tools read it.
//
// "storage = file | odbc | nats" chooses; without it odbcstorage means odbc, else the spool.
// storage=odbc without odbcstorage, or storage=file/nats with odbcstorage, is an error.
//
// All the stores pass one conformance table (storeOps in store_test.go: saves, moves, deletes,
// purges, copies to another mailbox and what each folder holds after them), run on the spool, SQLite, PostgreSQL,
// MariaDB, an in-process nats-server with JetStream and a standalone one. Moving a message to its own folder puts it at the end
// and answers its final number.
//
// # Applications
//
// VoiceMail(mailbox[@context][&mailbox2...][,options]) answers, plays the greeting (option u:
// the unavailable one, b: busy; a recorded temp greeting first, then the recorded kind, else
// Asterisk's vm-theperson, the mailbox's digits, vm-isunavail or vm-isonphone; without u or b
// no greeting, as Asterisk), vm-intro unless option s, then beep, and records until '#',
// maxsecs, maxsilence of silence, or the hangup (a message left by hanging up is kept, as in
// Asterisk). '#' during the greeting skips to the beep, '*' goes to extension a and '0' to o
// (with operator=yes) when they exist (VMSTATUS USEREXIT). A recording under minsecs is
// discarded; a mailbox holding maxmsg messages plays vm-mailboxfull and logs; a store that
// fails plays vm-sorry (nothing is counted). Option U stores the message in Urgent. VMSTATUS is
// SUCCESS, USEREXIT or FAILED. The caller hears vm-goodbye after '#', then the dialplan goes on.
//
// After the recording, as Asterisk's play_record_review for a caller: with review=yes
// ([general] or the mailbox's option) the caller hears vm-review (and vm-reachoper with the
// operator): 1 keeps the message (vm-msgsaved), 2 plays it (a digit stops it and is the
// next choice), 3 records it again (vm-intro, beep), other digits vm-sorry; four silent
// rounds keep it. With operator=yes and an extension o in the channel's context, '0' during
// the recording (or in the review menu) asks vm-saveoper: 1 keeps what was recorded (stored
// when it is at least minsecs long), anything else drops it (vm-deleted); then "transfer" and
// the channel goes to o (VMSTATUS USEREXIT). A hangup during the review keeps the message
// (during vm-saveoper it drops it, as Asterisk).
//
// VoiceMailMain([mailbox][@context][,options]) asks vm-login (when no mailbox is given) and
// vm-password (option s skips it), maxlogins times (vm-incorrect between tries), then says
// vm-goodbye, logs a warning and hangs up. Logged in, the caller hears the new and old counts
// (vm-youhave ...), then the main menu: 1 first message, 5 repeat, 4/6 previous/next, 7
// delete/undelete, 8 forward, 9 save to folder 0-4, 2 change folder, 0 mailbox options (1/2/3/4
// record the unavailable, busy, name and temp greetings, 5 change password), * instructions,
// # exit, 3 advanced options. Before each message the envelope is said, as Asterisk's
// envelope=yes default: the date in the format of the mailbox's tz= zone ([zonemessages],
// with Asterisk's "en" date codes: 'file', A B d e m Y I l H k M N P p Q q R S T), else
// "'vm-received' q 'digits/at' IMp", then, with saycid, who called (vm-from-phonenumber and the
// digits, or vm-unknown-caller); envelope=no ([general] or the mailbox) leaves the date out.
// During a message Asterisk's listen keys work: '#' skips forward and '*' back by skipms
// (default 3000), '0' pauses and resumes, '2' starts it again; any other digit stops it and is
// the next command. With nextaftercmd=yes ([general] or the mailbox) a delete or a save goes
// on to the next message (vm-nomore after the last). As Asterisk's close_mailbox, what the
// caller did is applied when the folder is left (#, a folder change, the hangup, leaving
// for another extension): deleted messages are removed, saved ones moved, heard INBOX
// messages moved to Old; then MWI is told. Digits come from the leg's DTMF frames; a digit
// pressed during a prompt stops it and is taken as the answer.
//
// 8 forwards the current message, as Asterisk's forward_message (always offered, as in
// Asterisk; sendvoicemail is the advanced menu's 5): vm-extension, then mailbox numbers of the
// mailbox's context separated by '*' and ended by '#' (each must exist, not be the caller's
// own, and have room: else pbx-invalid or vm-mailboxfull and the question again, three times;
// a recorded name greeting of each is played), then vm-forwardoptions: 1 records a comment
// (beep, '#') to put before the message and asks again, 2 sends, * cancels. The message is
// copied (Copy: audio and metadata, msg_id included, as Asterisk's copy of the files or of
// the row) to the end of each mailbox's INBOX (Urgent when forwarded from Urgent) on whatever
// store is in force, each mailbox's MWI is published and its owner mailed; vm-msgforwarded.
//
// 3, the advanced options (vm-toreply, vm-tocallback, vm-tohearenv, vm-tomakecall,
// vm-leavemsg, vm-starmain as they apply): 1 reply: the current message's caller ID number,
// when it is a mailbox of the same context, gets a message (the VoiceMail steps above,
// without a greeting; vm-nonumber or vm-nobox otherwise); 2 call back, with callback=<context>
// (the mailbox's option, else [general]'s): vm-num-i-have, the number, vm-tocallnum (with
// dialout= also vm-calldiffnum: 2 enters another number), 1 calls it; 3 the envelope again; 4
// an outgoing call, with dialout=<context>: the number is keyed ('#' ends it, '*' cancels);
// 5 with sendvoicemail=yes leaves a new message for mailboxes asked as for 8; * back. Calling
// back or out is Asterisk's goto: VoiceMailMain ends without a goodbye and the channel goes
// on at priority 1 of the number in that context (the folder's changes applied first).
//
// VoiceMailPurge(mailbox[@context][&mailbox2...][,folder]) (Pleiades' own, not Asterisk's)
// removes every message of the mailboxes, of every folder or of the one named, then publishes
// their counts. VMPURGESTATUS is SUCCESS or FAILED (no mailbox, an unknown mailbox or folder,
// a store error), VMPURGECOUNT how many messages went. The NATS and SQL stores empty a folder
// in one write (Purger); the spool deletes one message at a time, highest first.
//
// MAILBOX_EXISTS(mailbox[@context]) is 1 or 0; VM_INFO(mailbox[@context],attribute[,folder])
// reads count (of INBOX or folder), email, exists, fullname, language, locale, pager,
// password, tz.
//
// # MWI
//
// After a message is left, moved or deleted, the mailbox's counts are read from the store
// and given to the MWI core (package mwi), which shares them with the cluster, sends the
// phones' message-summary NOTIFY and AMI MessageWaiting, and answers MailboxCount,
// MailboxStatus and MWIGet. New is INBOX plus Urgent (Asterisk's MWI counts urgent messages as
// new), old is Old, urgent is Urgent; so MailboxCount's NewMessages includes urgent messages
// (Asterisk's MailboxCount reads the folders and does not). At start and on reload every
// configured mailbox with messages is published. pollmailboxes=yes reads the counts of every
// mailbox the store holds every pollfreq seconds and publishes those that changed (messages
// changed behind Pleiades' back); VoicemailRefresh [Context] [Mailbox] publishes at once.
//
// # Email
//
// A message left for a mailbox with an email address is mailed through mailcmd (default
// "/usr/sbin/sendmail -t"), run by /bin/sh in the background with the message on its standard
// input, as Asterisk's make_email writes it: From fromstring <serveremail> (@hostname added
// to an address without a domain), Subject and body from emailsubject and emailbody with
// Asterisk's variables (VM_NAME, VM_DUR, VM_MSGNUM, VM_MAILBOX, VM_CALLERID, VM_CIDNAME,
// VM_CIDNUM, VM_DATE, VM_MESSAGEFILE, VM_CATEGORY; \n and \t read as newline and tab) or
// Asterisk's default text, the X-Asterisk-VM-* headers, and with attach=yes (global or the
// mailbox's option) the recording as msgNNNN.wav in base64. A failing mailcmd is logged. A
// mailbox with a pager address also gets Asterisk's short page (sendpage): From
// pagerfromstring, Subject pagersubject (default "New VM", "New Urgent VM"), body pagerbody or
// "New 1:05 long msg in box 1234\nfrom Alice, on <date>", no attachment; the same variables.
//
// # Not yet
//
// IMAP, pagerdateformat (a page's date is the email's), sayduration, cidinternalcontexts (a caller ID is always said as
// a phone number), dates said in other languages than English, greetings stored in the
// database or in NATS (they stay in each server's spool), ${VAR} in a [zonemessages] format
// (skipped), marking a message urgent from the review menu (review's 4, Asterisk's
// VM_MARK_URGENT), forwarding through the Directory (forward's "1 for the directory" of
// Asterisk's usedirectory), messagewrap, exitcontext, the listen keys of voicemail.conf
// (listen-control-*-key: Asterisk's defaults are used), and skipms during a recording's review
// (only during VoiceMailMain's messages). A copy is as atomic as a Save, but forwarding to
// several mailboxes is one copy after the other (a failure leaves the ones already made).
// The MWI delay (a message left on one server, by its '#' → a NOTIFY from another) is a
// median of five samples on one box (docs/performance.md), not of a real network.
package voicemail
