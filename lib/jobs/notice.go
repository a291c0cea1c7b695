package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Notifier delivers notices to the operators (lib/app publishes them to the
// stack's SNS topic). An error means the notice was not delivered.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// Notice is one message to the operators about a run that ended failed or
// partial. It names the job, the event, the counts and the most frequent
// failure reasons (patterns, see ReasonPattern), and the command that lists
// every failure; it carries no personal data beyond registration codes and
// never a secret (errors never hold one).
type Notice struct {
	// Subject is one line of printable ASCII under 100 characters (what SNS
	// accepts as an e-mail subject).
	Subject string
	// Body is plain text.
	Body string
	// Attributes say what the notice is about (stage, jobType, jobId,
	// account, event, outcome, runId), for subscription filter policies;
	// empty values are left out.
	Attributes map[string]string

	key string    // notices alike share it: job, outcome, error, reasons
	at  time.Time // when the run finished
}

// maxSubject is the longest subject SNS accepts, less one.
const maxSubject = 99

// maxNoticeError is the longest run error a notice quotes, in characters.
const maxNoticeError = 400

// NewRunNotice returns the notice of a finished run: stage names the
// deployment; top are the run's most frequent failure reasons.
func NewRunNotice(stage string, run store.Run, top []FailureReason) Notice {
	var b strings.Builder
	dep := "certain-marketo"
	if stage != "" {
		dep += " " + stage
	}
	fmt.Fprintf(&b, "A run of job %s ended %s (%s).\n\n", run.JobID, run.Outcome, dep)
	fmt.Fprintf(&b, "Job:     %s (%s)\n", run.JobID, run.JobType)
	where := "Account: " + run.Account
	if run.Event != "" {
		where += ", event " + run.Event
	}
	fmt.Fprintf(&b, "%s\n", where)
	fmt.Fprintf(&b, "Run:     %s (%s), started %s, took %s\n", run.ID, run.Trigger,
		run.Started.UTC().Format(time.RFC3339), run.Finished.Sub(run.Started).Round(time.Second))
	fmt.Fprintf(&b, "Records: %s\n", countsText(run.Counts))
	fmt.Fprintf(&b, "Calls:   Marketo %d, Certain %d\n", run.MarketoCalls, run.CertainCalls)
	errText := ""
	if run.Error != "" {
		errText = truncateRunes(emailRe.ReplaceAllString(run.Error, "<email>"), maxNoticeError)
		fmt.Fprintf(&b, "Error:   %s\n", errText)
	}
	if len(top) > 0 {
		fmt.Fprintf(&b, "\nMost frequent failure reasons (of %d failed records):\n", run.Counts[store.OutcomeFailed])
		for _, r := range top {
			fmt.Fprintf(&b, "  %6d  %-13s %s\n", r.Count, r.Code, r.Pattern)
		}
	}
	fmt.Fprintf(&b, "\nEvery failure of this run:  cmctl failures %s\n", run.ID)
	fmt.Fprintf(&b, "Recent runs of this job:    cmctl runs %s\n", run.JobID)
	if run.Outcome == store.RunFailed {
		b.WriteString("\nThe job runs again at its next scheduled time; fix the cause first (docs/operations.md, \"Runs and outcomes\").\n")
	}

	h := sha256.New()
	for _, s := range []string{stage, run.JobID, run.Outcome, errText} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, r := range top {
		h.Write([]byte(r.Code + "\x00" + r.Pattern + "\x00"))
	}
	attrs := map[string]string{}
	for k, v := range map[string]string{"stage": stage, "jobType": run.JobType, "jobId": run.JobID, "account": run.Account,
		"event": run.Event, "outcome": run.Outcome, "runId": run.ID} {
		if v != "" {
			attrs[k] = v
		}
	}
	return Notice{
		Subject:    subjectText(fmt.Sprintf("%s: %s job %s ended %s", dep, run.JobType, run.JobID, run.Outcome)),
		Body:       b.String(),
		Attributes: attrs,
		key:        "notice#" + run.JobID + "#" + run.Outcome + "#" + hex.EncodeToString(h.Sum(nil)[:8]),
		at:         run.Finished,
	}
}

// outcomeOrder is the order counts appear in a notice; other counts follow
// by name.
var outcomeOrder = []string{store.OutcomeCreated, store.OutcomeUpdated, store.OutcomeRequested,
	store.OutcomeUnchanged, store.OutcomeSkipped, store.OutcomeFailed}

// countsText lists the non-zero counts: "created 12, updated 3, failed 2".
func countsText(counts map[string]int) string {
	var parts []string
	for _, k := range outcomeOrder {
		if counts[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(outcomeOrder, k) && counts[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// subjectText makes s a subject SNS accepts: printable ASCII only (anything
// else becomes '?'), under 100 characters.
func subjectText(s string) string {
	b := []byte{}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b = append(b, byte(r))
	}
	if len(b) > maxSubject {
		b = append(b[:maxSubject-3], "..."...)
	}
	return string(b)
}

// notify sends n unless a notice like it went out less than Quiet ago. The
// quiet period is an idempotency record (key notice#<job>#<outcome>#<hash>)
// that lives Quiet; a notice that could not be sent drops it, so the next
// run tries again. Nothing here fails the run.
func (rp Reporter) notify(ctx context.Context, idem store.Idempotency, log *slog.Logger, n Notice) {
	if rp.Notifier == nil {
		return
	}
	// The notice must go out even when the invocation's context is ending.
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	gated := rp.Quiet > 0 && idem != nil
	if gated {
		r, err := idem.BeginIdem(nctx, n.key, n.at.Add(rp.Quiet), rp.Quiet, n.at)
		switch {
		case err != nil:
			log.WarnContext(ctx, "cannot check whether a notice like this one was sent; sending it", "key", n.key, "error", err)
			gated = false
		case r.Status != store.IdemProceed:
			log.InfoContext(ctx, "run notice not sent: a notice like it went out less than the quiet period ago", "key", n.key, "quiet", rp.Quiet.String())
			return
		}
	}
	if err := rp.Notifier.Notify(nctx, n); err != nil {
		log.ErrorContext(ctx, "cannot send the run notice", "subject", n.Subject, "error", err)
		if gated {
			if aerr := idem.AbortIdem(nctx, n.key); aerr != nil {
				log.ErrorContext(ctx, "cannot clear the notice's quiet period; the next notice like it waits for it", "key", n.key, "error", aerr)
			}
		}
		return
	}
	log.InfoContext(ctx, "run notice sent", "subject", n.Subject)
}
