// Package curl is the realtime driver of Asterisk's res_config_curl: objects and static files
// read from, and written to, a web service. extconfig.conf names the service's URL as the
// database of a mapping, one URL per family:
//
//	sippeers => curl,http://provisioning.example.com/rt/sippeers
//	extensions.conf => curl,https://provisioning.example.com/rt/config
//
// and the driver sends the requests res_config_curl sends (Encode is Asterisk's ast_uri_encode
// with ast_uri_http: everything but letters, digits and "-._~" as %XX):
//
//	POST <url>/single   name=value&...          first line of the answer: one row, name=value&...
//	POST <url>/multi    name=value&...          one row a line; the first field is the order
//	POST <url>/update?key=value  name=value&... a row count
//	POST <url>/update2?lookup=value&...  name=value&...   a row count
//	POST <url>/store    name=value&...          a row count
//	POST <url>/destroy  key=value&name=value... a row count
//	POST <url>/require  name=type%3Asize&...    0 when every column is there
//	GET  <url>/static?file=name                 one variable a line: category, var_name,
//	                                            var_val, cat_metric[, var_metric][, commented]
//
// A field name may carry an operator as in every driver ("name LIKE", "port >="); it is sent
// as written, and the service applies it. Values are sent and read as they are: the ^3B
// encoding of multi-valued columns (realtime.EncodeValue) is the storage's business.
//
// Where Pleiades differs from Asterisk, and why:
//
//   - Update2 goes to <url>/update2 with the lookup fields joined by '&'. Asterisk's update2_curl
//     posts to /update and writes the lookup fields without separators between them (a bug that
//     makes a second lookup field unreadable); the issue and the wiki name /update2.
//   - Errors are told apart. An unreachable service, a timeout (httptimeout) or a 5xx answer
//     wraps realtime.ErrUnavailable, so the engine fails over to the next mapping. A 4xx answer
//     is an error of its own. An answer that is not the format (HTML, a stack trace, a count
//     that is not a number, a '%' escape that is not one) wraps ErrMalformed; Asterisk reads
//     such text as a row with odd column names, or as -1. An empty answer to /single is
//     realtime.ErrNotFound, as in Asterisk. A cancelled caller is neither.
//   - '+' in an answer is read as a space, as form decoders do (PHP's http_build_query writes
//     spaces so); Asterisk's decoder keeps it. Asterisk never writes '+' unencoded, so requests
//     are unaffected.
//   - Empty values in a row are left out (every realtime driver returns that shape).
//   - A field name that is not a plain word (letters, digits, '_', '-', '.') or carries an
//     operator that is not allowed is refused before anything is sent.
//   - Static rows are sorted cat_metric DESC, var_metric ASC as every driver's; var_metric is
//     read when the service sends it (Asterisk ignores it) and is otherwise the line's position,
//     so a service's own order is kept.
//   - The protocol has no column list, so Require can only report that the service answered
//     non-zero: the error wraps realtime.ErrUnknownField and names every column asked for.
//
// res_curl.conf [globals] (or [global], [general]; keys plain or as CURLOPT(key)) sets
// conntimeout and httptimeout (seconds; defaults 5 and 10, where libcurl's are minutes),
// ssl_verifypeer, useragent and userpwd (HTTP basic authentication), and Pleiades' own cainfo
// (a PEM file of the CAs to trust) and maxconns (idle keep-alive connections per host,
// default 16). Connections are kept alive and reused across requests (Go's HTTP transport);
// a reload swaps the client and closes the old idle connections.
//
// The engine counts as loaded ("core show config mappings", "module show") while a mapping
// names curl or res_curl.conf exists. "realtime show curl status" shows the settings and, per
// URL, requests, errors, unreachable answers, mean latency and the last error.
//
// Package curltest is a web service answering these requests from any realtime driver, used
// by the tests and benchmarks.
package curl
