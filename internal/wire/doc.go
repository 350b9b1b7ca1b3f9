// Package wire is the native API's JSON shape: of submissions (the
// request), of results and jobs, shared by the HTTP API, callbacks and
// `airlock run --json`, and of the limits policy. Output is text: bytes
// that are not UTF-8 are replaced.
package wire
