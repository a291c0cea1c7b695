// Package store defines the state the jobs keep: configuration, job
// schedule state (leases), runs, per-record outcomes, checkpoints,
// idempotency records, change-detector watermarks and delta hashes.
// Implementations: memstore (embedded) and dynamostore (DynamoDB). storetest
// holds the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
)

var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("version conflict")
)

// Store is the union of the small interfaces below; consumers should depend
// on the smallest one they need.
type Store interface {
	Configs
	JobStates
	Runs
	Checkpoints
	Idempotency
	Detector
	Hashes
}

// Configs is the configuration operators write: connections and jobs.
type Configs interface {
	PutConnection(ctx context.Context, c config.Connection) error // validates first
	GetConnection(ctx context.Context, account string) (config.Connection, error)
	PutJob(ctx context.Context, j config.Job) error // validates first
	GetJob(ctx context.Context, id string) (config.Job, error)
	ListJobs(ctx context.Context, jobType string) ([]config.Job, error) // "" = all types
}

// JobStates is the schedule state of each job: when it is next due and
// which run holds its lease.
type JobStates interface {
	// GetJobState returns the zero JobState (Version 0) when none exists.
	GetJobState(ctx context.Context, jobID string) (JobState, error)
	// ClaimJob takes the job's lease if the state's version is still
	// expectVersion and no unexpired lease is held; exactly one of many
	// concurrent claimants wins. Returns false (no error) when it lost.
	ClaimJob(ctx context.Context, jobID, runID string, expectVersion int64, leaseUntil, now time.Time) (bool, error)
	// ReleaseJob drops the lease held by runID and records when the job is
	// next due (now, when a checkpoint is pending).
	ReleaseJob(ctx context.Context, jobID, runID string, nextDue time.Time, outcome string) error
}

type JobState struct {
	JobID       string
	Version     int64
	NextDue     time.Time // zero: due now (never ran)
	LeaseOwner  string
	LeaseUntil  time.Time
	LastRunID   string
	LastOutcome string
	LastRun     time.Time
}

// Run outcomes.
const (
	RunRunning      = "running"
	RunSucceeded    = "succeeded"    // every record handled, none failed
	RunPartial      = "partial"      // finished; some records failed
	RunCheckpointed = "checkpointed" // stopped at the deadline; continues next invocation
	RunQuota        = "quota"        // stopped by Marketo's daily quota; resumes after reset
	RunFailed       = "failed"       // configuration or fatal error
)

// Run is the record an operator reads first.
type Run struct {
	ID           string
	JobID        string
	JobType      string
	Account      string
	Event        string
	Trigger      string // "schedule", "direct", "sqs", "continuation"
	Started      time.Time
	Finished     time.Time
	Outcome      string
	Counts       map[string]int
	MarketoCalls int
	CertainCalls int
	Error        string
	// OutcomesDropped counts per-record outcomes not kept (over the bound).
	OutcomesDropped int
}

// Per-record outcome kinds.
const (
	OutcomeCreated   = "created"
	OutcomeUpdated   = "updated"
	OutcomeSkipped   = "skipped"
	OutcomeFailed    = "failed"
	OutcomeRequested = "requested"
	OutcomeUnchanged = "unchanged"
)

type RecordOutcome struct {
	Key     string // registration code, lead id, ...
	Email   string `json:",omitempty"`
	Outcome string
	Reason  string // human-readable, for skipped and failed
	Code    string // Marketo or Certain code, for failed
	// Change is, for a trigger-campaign change that was not triggered, the
	// registration-change message (JSON) that cmctl retry-failures sends
	// again once the cause is fixed.
	Change string `json:",omitempty"`
}

// MaxOutcomesPerRun bounds the per-record outcomes kept per run.
const MaxOutcomesPerRun = 5000

type Runs interface {
	PutRun(ctx context.Context, r Run) error // create or replace
	GetRun(ctx context.Context, runID string) (Run, error)
	ListRuns(ctx context.Context, jobID string, limit int) ([]Run, error) // newest first
	// AddOutcomes appends outcomes; past MaxOutcomesPerRun they are counted,
	// not kept. Returns how many were dropped by this call.
	AddOutcomes(ctx context.Context, runID string, outs []RecordOutcome) (dropped int, err error)
	ListOutcomes(ctx context.Context, runID string, outcome string) ([]RecordOutcome, error) // "" = all
}

type Checkpoint struct {
	Version int64  // 0 when none exists
	RunID   string // the run that wrote it
	Data    []byte // job-specific JSON
	Updated time.Time
}

type Checkpoints interface {
	// GetCheckpoint returns ErrNotFound when none exists.
	GetCheckpoint(ctx context.Context, jobID string) (Checkpoint, error)
	// PutCheckpoint writes cp if the stored version is expectVersion (0 = none
	// may exist) and returns the new version; ErrConflict otherwise.
	PutCheckpoint(ctx context.Context, jobID string, cp Checkpoint, expectVersion int64) (int64, error)
	DeleteCheckpoint(ctx context.Context, jobID string, expectVersion int64) error
}

// Idempotency begin results.
const (
	IdemProceed    = "proceed"     // caller owns the key now
	IdemDuplicate  = "duplicate"   // completed before; Result holds what it stored
	IdemInProgress = "in-progress" // another holder's lock is live
)

type IdemResult struct {
	Status string
	Result []byte
}

// Idempotency follows docs/architecture.md §8.
type Idempotency interface {
	BeginIdem(ctx context.Context, key string, lockUntil time.Time, retention time.Duration, now time.Time) (IdemResult, error)
	// PeekIdem answers what BeginIdem would answer now, without writing
	// anything (a dry run's question: would this change run again?).
	PeekIdem(ctx context.Context, key string, now time.Time) (IdemResult, error)
	CompleteIdem(ctx context.Context, key string, result []byte, retention time.Duration, now time.Time) error
	AbortIdem(ctx context.Context, key string) error
}

// Detector is the state of the registration change detector, scoped per
// account/event ("ACME/HS26").
type Detector interface {
	GetWatermark(ctx context.Context, scope string) (time.Time, bool, error)
	PutWatermark(ctx context.Context, scope string, t time.Time) error
	GetLastStatuses(ctx context.Context, scope string, regCodes []string) (map[string]string, error)
	PutLastStatuses(ctx context.Context, scope string, statuses map[string]string) error
}

// Hashes are the last successfully sent payload hashes, for delta syncs;
// scope is per job ("job:<id>").
type Hashes interface {
	GetHashes(ctx context.Context, scope string, keys []string) (map[string]string, error)
	PutHashes(ctx context.Context, scope string, hashes map[string]string) error
	DeleteHashes(ctx context.Context, scope string, keys []string) error
}
