package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/store/memstore"
)

// pagedCertain serves registrations 10 per page, ordered by dateModified,
// and fails one page read once.
type pagedCertain struct {
	jobs.Certain
	regs   []certain.Registration
	failAt int // page number that fails once; -1: none
}

func (c *pagedCertain) GetEvent(_ context.Context, _, event string) (certain.Event, error) {
	return certain.Event{Code: event}, nil
}

func (c *pagedCertain) RegistrationPages(_ context.Context, _, _ string, q certain.RegistrationQuery) iter.Seq2[certain.Page[certain.Registration], error] {
	return func(yield func(certain.Page[certain.Registration], error) bool) {
		var items []certain.Registration
		for _, r := range c.regs {
			if q.ModifiedAfter.IsZero() || r.DateModified.After(q.ModifiedAfter) {
				items = append(items, r)
			}
		}
		for off := q.StartIndex; off < len(items); off += 10 {
			if off/10 == c.failAt {
				c.failAt = -1
				yield(certain.Page[certain.Registration]{StartIndex: off, NextIndex: off}, errors.New("certain: 503"))
				return
			}
			end := min(off+10, len(items))
			if !yield(certain.Page[certain.Registration]{Items: items[off:end], StartIndex: off, NextIndex: end, Last: end == len(items)}, nil) {
				return
			}
		}
	}
}

type staticClients struct{ cl jobs.Clients }

func (c staticClients) Connect(context.Context, config.Connection) (jobs.Clients, error) {
	return c.cl, nil
}

type collectSender struct{ got []jobs.ChangeMessage }

func (q *collectSender) SendChanges(_ context.Context, msgs []jobs.ChangeMessage) ([]bool, error) {
	q.got = append(q.got, msgs...)
	sent := make([]bool, len(msgs))
	for i := range sent {
		sent[i] = true
	}
	return sent, nil
}

// detectorStore holds account ACME and an enabled trigger-campaign job for
// its event EV, which the detector polls.
func detectorStore(t *testing.T) *memstore.Store {
	t.Helper()
	ctx := context.Background()
	st := memstore.New()
	if err := st.PutConnection(ctx, config.Connection{Account: "ACME", CertainBaseURL: "https://acme.example", CertainSecret: "c", MarketoSecret: "m",
		FieldMapping: []config.FieldMap{{Certain: "email", Marketo: "email"}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutJob(ctx, config.Job{ID: "j", Account: "ACME", Event: "EV", Type: config.TypeTriggerCampaign, Name: "j", Enabled: true,
		Schedule: config.Schedule{Interval: config.Duration(time.Minute)}, Params: config.Params{CampaignID: 1, ToStatus: "Attended"}}); err != nil {
		t.Fatal(err)
	}
	return st
}

// A baseline cut short (here by a Certain error on its second page) sends
// nothing when the next tick finishes it: the registrations it had not read
// yet are recorded, not reported as new. After it, a real change is sent.
func TestDetectorBaselineInterruptedSendsNothing(t *testing.T) {
	ctx := context.Background()
	st := detectorStore(t)
	base := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	ce := &pagedCertain{failAt: 1}
	for i := range 30 {
		ce.regs = append(ce.regs, certain.Registration{Code: fmt.Sprintf("R%02d", i), Status: "Registered", DateModified: base.Add(time.Duration(i) * time.Hour)})
	}
	q := &collectSender{}
	d := &jobs.Detector{Store: st, Connector: staticClients{jobs.Clients{Certain: ce}}, Sender: q, Now: func() time.Time { return base.Add(48 * time.Hour) }}
	if _, err := d.Tick(ctx); err == nil {
		t.Fatal("first tick: want the page error")
	}
	if _, have, _ := st.GetWatermark(ctx, jobs.DetectorScope("ACME", "EV")); have {
		t.Fatal("a watermark was set before the baseline was complete")
	}
	res, err := d.Tick(ctx)
	if err != nil || len(q.got) != 0 {
		t.Fatalf("second tick: %+v, %v; sent %d messages, want none (baseline)", res, err, len(q.got))
	}
	if res.Scopes[0].Read != 20 {
		t.Fatalf("second tick read %d registrations, want the 20 the first tick had not", res.Scopes[0].Read)
	}
	ce.regs[5].Status, ce.regs[5].DateModified = "Attended", base.Add(40*time.Hour)
	if _, err := d.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if len(q.got) != 1 || q.got[0].RegistrationCode != "R05" || q.got[0].PreviousStatus != "Registered" || q.got[0].NewStatus != "Attended" {
		t.Fatalf("after the baseline: sent %+v, want exactly R05 Registered -> Attended", q.got)
	}
}

// A change that cannot be expressed as a message (a status of 300
// characters) is logged and skipped; it does not hold the watermark back, so
// later changes still go out. Surrounding spaces are tidied.
func TestDetectorSkipsChangesItCannotExpress(t *testing.T) {
	ctx := context.Background()
	st := detectorStore(t)
	base := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	ce := &pagedCertain{failAt: -1}
	for i := range 3 {
		ce.regs = append(ce.regs, certain.Registration{Code: fmt.Sprintf("R%02d", i), Status: "Registered", DateModified: base.Add(time.Duration(i) * time.Hour)})
	}
	q := &collectSender{}
	d := &jobs.Detector{Store: st, Connector: staticClients{jobs.Clients{Certain: ce}}, Sender: q, Now: func() time.Time { return base.Add(48 * time.Hour) }}
	if _, err := d.Tick(ctx); err != nil { // baseline
		t.Fatal(err)
	}
	ce.regs[0].Status, ce.regs[0].DateModified = strings.Repeat("x", 300), base.Add(30*time.Hour)
	ce.regs[1].Status, ce.regs[1].DateModified = " Attended ", base.Add(31*time.Hour)
	res, err := d.Tick(ctx)
	if err != nil || res.Scopes[0].Invalid != 1 || len(q.got) != 1 || q.got[0].RegistrationCode != "R01" || q.got[0].NewStatus != "Attended" {
		t.Fatalf("tick %+v, %v; sent %+v: want R00 skipped as invalid and R01 sent as Attended", res, err, q.got)
	}
	if wm, _, _ := st.GetWatermark(ctx, jobs.DetectorScope("ACME", "EV")); !wm.Equal(base.Add(31 * time.Hour)) {
		t.Fatalf("watermark %v, want it past both changes", wm)
	}
}
