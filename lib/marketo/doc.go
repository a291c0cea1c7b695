// Package marketo is the one Marketo REST client every certain-marketo job
// uses.
//
// Marketo's public clients mostly fail in the transport layer: 606/615 arrive
// as HTTP 200 and slip past status-based retries, 601/602 re-authentication
// resends the stale token, retries reuse consumed bodies, and long lookups hit
// the 8 KB URI limit. This package centralises those rules (docs/marketo.md §4, §7)
// so that the jobs only see typed operations with the batching they need,
// per-record outcomes, and three kinds of errors: *Error (a response-level
// failure that retrying will not fix), *QuotaError (607: stop cleanly and
// resume after midnight of the QuotaZone, America/Chicago or UTC-6) and
// *AuthError (bad credentials).
//
// Every REST call first takes from a Budget, so lib/limit's budgets, the
// in-process one and the DynamoDB-held one shared by all Lambdas, plug in
// unchanged.
package marketo
