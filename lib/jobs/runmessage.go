package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
)

// RunVersion is the run-message version this code produces and accepts.
const RunVersion = 1

// MaxRunBytes bounds an encoded run message; real ones are ~200 bytes.
const MaxRunBytes = 4 << 10

// Kinds of run message.
const (
	// RunKindSchedule: the job was due at a schedule tick.
	RunKindSchedule = "schedule"
	// RunKindContinuation: a run stopped at the soft deadline or by the
	// daily quota; the job may run again from Due on.
	RunKindContinuation = "continuation"
	// RunKindDirect: an operator asked for a run now (cmctl run, or a
	// {"jobId"} invocation), due or not; RunID names the run to wait for.
	RunKindDirect = "direct"
)

// RunMessage is the "run job" message of a job type's work queue
// (docs/architecture.md §7): the schedule tick (the dispatcher) sends one
// per due job, a run that stopped early sends its own continuation, and a
// direct run is one too. The job type's function consumes its queue, one
// job per message. Messages are delivered at least once and may be
// duplicated: the job's claim in the state table lets one run at a time,
// and each kind says how a late or repeated copy is recognised.
//
// Wire format, a JSON object with exactly these members:
//
//	{"version":1,                        // required, must be 1
//	 "jobId":"summit-sync",              // required
//	 "kind":"schedule",                  // schedule | continuation | direct
//	 "due":"2026-04-01T08:00:00Z",       // required, RFC 3339: when the job became due (may run)
//	 "runId":"20260401T080000Z-1a2b3c4d",// direct only, required there: the run id to record
//	 "force":true}                       // direct only, optional: ignore delta hashes
type RunMessage struct {
	Version int       `json:"version"`
	JobID   string    `json:"jobId"`
	Kind    string    `json:"kind"`
	Due     time.Time `json:"due"`
	RunID   string    `json:"runId,omitempty"`
	Force   bool      `json:"force,omitempty"`
}

// Validate checks a message's fields.
func (m RunMessage) Validate() error {
	if m.Version != RunVersion {
		return fmt.Errorf("run message: version %d is not supported (want %d)", m.Version, RunVersion)
	}
	if err := checkID("run message", "jobId", m.JobID); err != nil {
		return err
	}
	if m.Due.IsZero() {
		return errors.New("run message: due is required")
	}
	if y := m.Due.Year(); y < 2000 || y > 9998 {
		return fmt.Errorf("run message: due %s is out of range", m.Due.Format(time.RFC3339))
	}
	switch m.Kind {
	case RunKindSchedule, RunKindContinuation:
		if m.RunID != "" || m.Force {
			return fmt.Errorf("run message: runId and force belong to direct runs, not to kind %q", m.Kind)
		}
	case RunKindDirect:
		if err := checkID("run message", "runId", m.RunID); err != nil {
			return err
		}
	case "":
		return errors.New("run message: kind is required (schedule, continuation or direct)")
	default:
		return fmt.Errorf("run message: kind %q is not schedule, continuation or direct", truncate(m.Kind, 40))
	}
	return nil
}

// checkID checks a required identifier of a message (what): 1-128
// printable characters without spaces.
func checkID(what, name, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s: %s is required", what, name)
	case len(v) > 128:
		return fmt.Errorf("%s: %s is longer than 128 bytes", what, name)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%s: %s %q contains spaces or control characters", what, name, truncate(v, 40))
		}
	}
	return nil
}

// Encode returns the message's JSON after validating it.
func (m RunMessage) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	m.Due = m.Due.UTC()
	return json.Marshal(m)
}

// DecodeRun parses and validates one run message: exactly the documented
// members, nothing after the object. Every rejection says what is wrong.
func DecodeRun(data []byte) (RunMessage, error) {
	var m RunMessage
	if len(data) > MaxRunBytes {
		return m, fmt.Errorf("run message: %d bytes, more than the %d allowed", len(data), MaxRunBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("run message: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, errors.New("run message: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return m, err
	}
	m.Due = m.Due.UTC()
	return m, nil
}

// RunQueue is a job type's work queue (SQS in lib/app). delay postpones
// the messages' first delivery (SQS allows at most 15 minutes; longer
// delays are cut to that). sent has one entry per message; err is non-nil
// when any message was not sent.
type RunQueue interface {
	SendRuns(ctx context.Context, msgs []RunMessage, delay time.Duration) (sent []bool, err error)
}

// MaxQueueDelay is the longest first-delivery delay SQS allows.
const MaxQueueDelay = 15 * time.Minute
