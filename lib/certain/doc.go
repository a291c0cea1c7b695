// Package certain is the REST client for the Certain event platform.
//
// Certain publishes no per-resource reference, so this client follows the
// "default contract" of docs/certain.md: every field name or value that is not
// publicly documented comes from FieldNames, which means a tenant that differs
// needs configuration, not code. Collections are exposed as iterators that
// fetch one page at a time, so a 100,000-registration event never sits in
// memory at once and a job can checkpoint the offset of the next page.
//
// Transport rules: HTTP Basic auth, JSON only, 404 on a collection search is an
// empty result, 429 and 5xx are retried with exponential back-off honouring
// Retry-After. Every attempt first takes a slot of the client's adaptive
// concurrency limit (adaptive.go: AIMD with a latency signal, between 1 and
// MaxInFlight, cut on 429/503 and paused for their Retry-After), then the
// account's Budget (limit.Shared, shared by every Lambda of the account);
// Certain publishes no limits (docs/certain.md §3).
package certain
