// Package dynamostore is the DynamoDB store.Store used in AWS.
//
// Two tables, as template.yaml declares them (TableDefs is the single
// source of the key schema; a test compares it with the template): both
// have string keys pk (HASH) and sk (RANGE) and no secondary index. Every
// access is a GetItem, a conditional write or a Query on one partition, so
// no GSI and no Scan is needed.
//
// Config table (CONFIG_TABLE; small, read at every tick, written by
// operators). Each item holds the object's JSON in "doc", decoded strictly
// and validated on every read, so a hand-edited bad item is a clear error:
//
//	pk "conns"  sk "conn#<account>"   a Connection
//	pk "jobs"   sk "job#<id>"         a Job (+ "jobType" for the filter)
//
// Jobs and connections share one partition each: there are hundreds, not
// millions, and ListJobs becomes one Query.
//
// State table (STATE_TABLE; TTL on "expiresAt", epoch seconds; TTL deletes
// late, so every read that matters compares expiresAt with now):
//
//	pk "job#<id>"          sk "state"        schedule state: version, nextDue, lease (ClaimJob/ReleaseJob)
//	pk "job#<id>"          sk "checkpoint"   checkpoint with optimistic "version"
//	pk "run#<runId>"       sk "run"          the run record (JSON in "doc")
//	pk "run#<runId>"       sk "outcount"     outcomes offered so far (atomic ADD reserves slots)
//	pk "run#<runId>"       sk "out#<seq>"    up to 100 per-record outcomes per item, seq zero-padded
//	pk "jobruns#<jobId>"   sk "<started>#<runId>"  copy of the run for ListRuns (newest first)
//	pk "idem#<key>"        sk "idem"         idempotency record (docs/architecture.md §8)
//	pk "det#<scope>"       sk "watermark"    change-detector watermark
//	pk "det#<scope>"       sk "st#<regCode>" last-seen registration status
//	pk "hash#<scope>"      sk "h#<key>"      last-sent payload hash
//	pk "budget#<instance>" sk ...            the shared Marketo budget (lib/limit)
//
// Times are stored as epoch milliseconds (lease, nextDue) or RFC 3339 with
// nanoseconds (watermarks, where the detector needs exact values). Runs and
// outcomes expire after the run retention (default 90 days).
package dynamostore
