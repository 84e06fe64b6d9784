// Package rtswitch is the Realtime switch (Asterisk's pbx/pbx_realtime.c) and the REALTIME*
// dialplan functions (funcs/func_realtime.c) over the realtime engine.
//
// # Wiring (for internal/core)
//
//	sw := rtswitch.New(log *slog.Logger, rt *realtime.Engine) // 1-second cache
//	sw.SetCacheTTL(d)     // optional; d <= 0 turns the cache off
//	sw.Register(e)        // on the dialplan engine e: switch "Realtime" + REALTIME, REALTIME_STORE,
//	                      // REALTIME_DESTROY, REALTIME_FIELD, REALTIME_HASH (RegisterFunctions(e, rt)
//	                      // alone for those); sw.Unregister(e) removes them
//	sw.Flush()            // after a realtime reload / a change of the table's columns
//	sw.DialplanHints(ctx, dp *dialplan.Dialplan) ([]dialplan.Hint, error) // core show hints
//	sw.Hints(ctx, dbContext, family string) ([]dialplan.Hint, error)
//	sw.LookupHint(ctx, e *dialplan.Engine, context, exten) (dialplan.Hint, bool, error)
//	        // the hint engine: call it when e.Hint(exten, context) returns false
//
// # Behaviour
//
// switch => Realtime/[[db_context@]family][/options] in a context of extensions.conf. The
// family defaults to "extensions", db_context to the context holding the switch line; option
// 'p' turns pattern rows off. The table is Asterisk's extensions(context, exten, priority, app,
// appdata), unchanged.
//
//   - exists/exec: first the exact row (exten = X, context, priority: one row, LIMIT 1); if
//     there is none and patterns are on, every row of the context at that priority whose exten
//     starts with '_' (exten LIKE '\_%'), sorted longest first (stable, so rows of equal length
//     keep the database's exten order), matched with the dialplan's own matcher; the first
//     match wins. canmatch asks exten LIKE 'X%', matchmore exten LIKE 'X_%' (the dialled digits
//     LIKE-escaped), then the pattern rows.
//   - Exec runs the row's app with its appdata substituted, logged exactly as a static priority
//     ("Executing [exten@context:prio] App("chan", "data") in new stack"). An application that
//     does not exist is logged as Asterisk does ("No such application 'X' for extension 'E' in
//     context 'C'") and hangs up: Run returns an error wrapping dialplan.ErrNoApp. A row
//     without app hangs up with a warning.
//   - A family that is not mapped in extconfig.conf finds nothing (one warning per family); a
//     database error is returned to the dialplan (a warning there), never turned into "no".
//
// # Where Pleiades differs from Asterisk
//
//   - The cache works. Asterisk keys its 1-second cache so that it never hits (about four SQL
//     statements per executed priority). Here every answer — the exact/LIKE rows of (family,
//     db_context, exten, priority, mode), the pattern rows of (family, db_context, priority),
//     including "no row" — is reused for the cache time (default 1 s, SetCacheTTL): the
//     executor's exists-then-exec of a priority costs one query, a second lookup of the same
//     number within the window none, and the pattern list is shared by every number of a
//     context and priority. A database error keeps serving the previous answer for a second
//     (realtime.Cache); errors are never cached. Changed is the switch's subscriber to the
//     realtime change feed (the server subscribes it): a change of any row of a family (a
//     PostgreSQL NOTIFY, "realtime invalidate") drops every cached answer of that family, so
//     a changed extensions row is used at the next lookup and not up to 1 s later.
//   - Caller ID: when the table has a cidmatch column (ALTER TABLE extensions ADD cidmatch
//     VARCHAR(80): Asterisk's schema has none), a row with an empty or NULL cidmatch matches
//     every caller, a non-empty one only callers whose number it matches (a number or a "_"
//     pattern; a caller without a number never matches), and rows with a cidmatch are preferred
//     at equal rank, as the static dialplan sorts "exten/cid" before "exten". Whether the column
//     exists is asked once per family (a lookup naming it, which the driver rejects before
//     sending when it is not a column) until Flush; with the column, exact and LIKE lookups read
//     every row instead of LIMIT 1.
//   - Realtime hints (Asterisk: none). A hint row has priority -1 (dialplan.PriorityHint; the
//     column is INTEGER) and app 'hint' with the devices (and ",presence") in appdata:
//     ('rtctx', '201', -1, 'hint', 'PJSIP/alice&Custom:alice'). Also accepted: priority -1 with
//     the devices in app and the presence in appdata, and priority 0 with app 'hint'. Hint rows
//     are never executed (calls start at priority 1). Hints of a context are read with one query
//     (priority <= 0) and cached like lookups; pattern hint rows answer Hint/LookupHint (longest
//     first) but are not listed by Hints, as with static hints.
//   - Lookups with priority -1 (a hint lookup) answer from the hint rows instead of returning
//     nothing.
//   - canmatch/matchmore against a pattern row use the dialplan's matcher with its semantics
//     (a pattern ending in '!' never "matches more"); Asterisk's ast_extension_close says yes.
//   - REALTIME_STORE sets RTSTOREID to what the driver's Store returns: the number of rows
//     stored (1), which is exactly what Asterisk sets with its SQL drivers (none returns an
//     id). REALTIME_HASH returns the values and sets ~ODBCFIELDS~ without the leading ','
//     Asterisk puts on both lists. A lookup that finds no row reads as "" without a warning; a
//     syntax error or a database error is a function error (logged by the dialplan, "").
//
// Package rttest holds the scratch-database helpers the tests of this package and of
// funcodbc share.
package rtswitch
