package app

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// FuzzDecodeInvocation: a scheduled function's payload decodes into one
// well-formed request (a job id, or a served job type) or a clear error.
func FuzzDecodeInvocation(f *testing.F) {
	for _, s := range []string{`{"jobType":"sync-leads","scheduledTime":"2026-04-01T08:00:00Z"}`, `{"jobId":"summit-sync","force":true}`,
		`{"jobId":" x"}`, `{"jobType":"sync-leads","jobId":"a"}`, `{}`, `null`, `{"jobType":"import-leads"} {}`, `{"jobtype":"sync-leads"}`, `[`} {
		f.Add([]byte(s))
	}
	served := []string{"sync-leads", "import-leads"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		inv, err := DecodeInvocation(raw, served)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		switch {
		case inv.JobID != "" && inv.JobType != "":
			t.Fatalf("both jobId and jobType accepted: %+v", inv)
		case inv.JobID == "" && inv.JobType == "":
			t.Fatalf("neither accepted: %+v", inv)
		case inv.JobType != "" && inv.JobType != "sync-leads" && inv.JobType != "import-leads":
			t.Fatalf("unserved job type accepted: %+v", inv)
		}
	})
}

type stubTicker struct{ ticks, polls int }

func (s *stubTicker) DispatchScopes(context.Context) (jobs.ScopeDispatch, error) {
	s.ticks++
	return jobs.ScopeDispatch{}, nil
}

func (s *stubTicker) PollScope(context.Context, jobs.ScopeMessage) (jobs.ScopeResult, error) {
	s.polls++
	return jobs.ScopeResult{}, nil
}

// FuzzDetectorPayload: the registration-changes payload either ticks the
// detector (a valid or empty payload) or is refused with an error without
// ticking; nothing but an SQS event polls.
func FuzzDetectorPayload(f *testing.F) {
	for _, s := range []string{`{"jobType":"registration-changes","scheduledTime":"2026-04-01T08:00:00Z"}`, `{}`, `null`, ``, ` `,
		`{"jobType":"sync-leads"}`, `{"scheduledTime":"yesterday"}`, `{"x":1}`, `"str"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		st := &stubTicker{}
		_, err := DetectorHandler(st, Telemetry{}, nil)(context.Background(), json.RawMessage(raw))
		if st.polls != 0 && !isSQSEvent(raw) {
			t.Fatalf("a payload that is not an SQS event polled %d scopes", st.polls)
		}
		if isSQSEvent(raw) {
			return
		}
		if err != nil && st.ticks != 0 {
			t.Fatalf("refused payload still ticked: %v", err)
		}
		if err == nil && st.ticks != 1 {
			t.Fatalf("accepted payload ticked %d times", st.ticks)
		}
	})
}
