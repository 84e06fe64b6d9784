// Package ldap is the realtime driver of Asterisk's res_config_ldap: SIP peers, voicemail
// boxes, dialplan and static files kept in a company's LDAP directory, on
// github.com/go-ldap/ldap/v3. extconfig.conf names the search base and a section of
// res_ldap.conf:
//
//	sippeers => ldap,"ou=phones,dc=example,dc=com",sip
//
// res_ldap.conf is Asterisk's: [_general] holds url (several, space separated, are tried in
// order; or host and port), protocol (3), basedn (used when a mapping's base is empty), user
// and pass (the bind DN; none: anonymous). Every other section is a table: "column =
// attribute" lines (a column may be mapped twice: the first attribute that has a value is
// read, the first is written) and additionalFilter, ANDed into every search. Mappings and
// additionalFilter in [_general] apply to every table.
//
// Pleiades' additions to [_general]: starttls (StartTLS on ldap:// URLs; ldaps:// URLs are TLS
// from the start), tls_verify and tls_cacert (the CAs to trust), timeout (connect and each
// request, default 5 seconds: a server that stops answering is an error after it), pool_size
// (connections kept, default 4; one request uses one connection, so several run at once). And
// to a table: objectClass (the classes Store gives new entries) and rdn (the attribute naming
// them, default cn).
//
// Where Pleiades differs from Asterisk, and why:
//
//   - Filters are built with escaping (goldap.EscapeFilter) and never by pasting values:
//     Asterisk pastes, so a peer name "*)(uid=*" widens the search. Attribute names come only
//     from the file.
//   - A section is the table's column list: a field that no line maps is an error wrapping
//     realtime.ErrUnknownField, nothing is sent, and rows hold the mapped columns only, in the
//     section's order (Asterisk returns every attribute of the entry). Require reports a column
//     the section does not map; the directory's schema is never changed.
//   - Operators: "=" and "!=" are filters; LIKE becomes a substring filter ('%' and '_' as '*',
//     '\' escaping) that the driver narrows ('_' is one character), NOT LIKE and the ordering
//     operators are applied by the driver to the entries the rest of the filter returns
//     (Asterisk's schema declares no ORDERING rule), as numbers when both sides are numbers.
//     Asterisk supports LIKE only.
//   - Rows of LoadMulti (and the row Load picks) are ordered by the first field's column, as
//     the SQL drivers'.
//   - Values are written with realtime.EncodeValue and read with DecodeValue like every
//     driver's; an attribute with several values reads as the values joined with ';' (a list
//     for realtime.SplitList), where Asterisk makes one variable per value.
//   - Store and Destroy exist (Asterisk's engine has neither): Store adds
//     "<rdn>=<value>,<base>" with the table's objectClass values, Destroy deletes the matching
//     entries. Update with an empty value removes the attribute, as in Asterisk.
//   - Errors: a server that cannot be reached, a lost connection or a request timeout wraps
//     realtime.ErrUnavailable (the engine fails over to the next mapping, and the connection is
//     dropped and redialed later); a search base that does not exist is no entry; a cancelled
//     caller is its own error. Asterisk retries three times under one global lock.
//   - Static mode reads the table's filename, category, var_name (or Asterisk's
//     variable_name), var_val (variable_value), cat_metric, var_metric and commented columns.
//     Asterisk's schema has no attribute for var_metric: map it to one of your own, or rows of a
//     category keep the directory's order.
//
// The engine is loaded (core show config mappings, module show) when res_ldap.conf exists, as
// Asterisk's module, which declines without it. "realtime show ldap status" prints Asterisk's
// "Connected to ..." line and the pool's figures.
package ldap
