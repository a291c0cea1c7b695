package bench

import (
	"fmt"

	"github.com/certain-marketo/certain-marketo/infra/bench/internal/pipeline"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Setup records how the figures were produced.
type Setup struct {
	Speed        float64    `json:"clockSpeed"`
	LatencyMin   string     `json:"latencyMin"`
	LatencyMax   string     `json:"latencyMax"`
	CallsPer20s  int        `json:"callsPer20s"`
	Concurrent   int        `json:"concurrent"`
	Seed         int64      `json:"seed"`
	TriggerBatch int        `json:"triggerBatch"`
	Schedule     string     `json:"schedule"` // how the scenarios shared the machine
	Scenarios    []Scenario `json:"scenarios"`
}

// Report is everything one run measured.
type Report struct {
	Generated        string  `json:"generated"`
	Seconds          float64 `json:"seconds"`
	Setup            Setup   `json:"setup"`
	SharedBudgetNote string  `json:"sharedBudgetNote"`
	Steps            []Step  `json:"steps"`
	Memory           *Memory `json:"memory,omitempty"`
	// MemoryProcess are the sync-leads bootstrap's own-process runs (peak
	// RSS of the job's process).
	MemoryProcess     []ProcessMemory `json:"memoryProcess"`
	MemoryProcessNote string          `json:"memoryProcessNote,omitempty"`
	ColdStart         []ColdStart     `json:"coldStart,omitempty"`
	ColdStartNote     string          `json:"coldStartNote,omitempty"`
	// Pipeline are the jobs at real latencies against their floor.
	Pipeline           []PipelineRow        `json:"pipeline"`
	PipelineSideBySide *pipeline.SideBySide `json:"pipelineSideBySide,omitempty"`
	PipelineNote       string               `json:"pipelineNote,omitempty"`
	// Scale is the scale scenario (scale.go).
	Scale     *Scale `json:"scale,omitempty"`
	ScaleNote string `json:"scaleNote,omitempty"`
}

// Sections are the Markdown headings every report has.
var Sections = []string{
	"## Marketo calls per job against the optimum",
	"## Throughput against the budget",
	"## Second run with nothing changed",
	"## Certain calls",
	"## Memory",
	"## Lambda cold start",
	"## Pipeline at real latencies",
	"## Scale: every due job and every watched event its own invocation",
}

// Write writes report.md, report.json and throughput.png into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := writeJSON(filepath.Join(dir, "report.json"), r); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write report.md: %w", err)
	}
	return writeChart(filepath.Join(dir, "throughput.png"), r.Steps)
}

func (r *Report) firsts(workers int) []Step {
	var out []Step
	for _, s := range r.Steps {
		if s.Run == "first" && (workers == 0 || s.Workers == workers) {
			out = append(out, s)
		}
	}
	return out
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	s := r.Setup
	p("# certain-marketo benchmark\n\n")
	p("Generated %s in %.0f s. Simulators with Marketo's real limits (%d calls / 20 s, %d in flight), latency %s–%s per call, on a clock running %.0fx wall time; budget = the full limits. Seed %d. Trigger messages arrive in batches of %d per invocation (template.yaml's SQS BatchSize). Scenarios run %s.\n\n",
		r.Generated, r.Seconds, s.CallsPer20s, s.Concurrent, s.LatencyMin, s.LatencyMax, s.Speed, s.Seed, s.TriggerBatch, s.Schedule)
	p("Budget sharing: %s.\n\n", r.SharedBudgetNote)

	p("%s\n\n", Sections[0])
	p("First runs, 1 worker. Ratio = calls / optimum (1.00 is the best possible).\n\n")
	p("| job | size | records | Marketo calls | optimum | ratio | optimum used |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, st := range r.firsts(1) {
		p("| %s | %d | %d | %d | %d | %.2f | %s |\n", st.Job, st.Size, st.Records, st.MarketoCalls, st.Optimum, st.Ratio, st.OptimumRule)
	}
	p("\n%s\n\n", Sections[1])
	p("Records/s on the simulated clock over what the budget allows (%d calls / 20 s × records per call). Short runs can exceed 100%%: the window lets the first %d calls go at once.\n\n", s.CallsPer20s, s.CallsPer20s)
	p("| job | size | records | workers | budget | sim s | records/s | budget records/s | fraction | 606 | 615 | errors |\n|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, st := range r.firsts(0) {
		p("| %s | %d | %d | %d | %s | %.1f | %.1f | %.0f | %.0f%% | %d | %d | %d |\n", st.Job, st.Size, st.Records, st.Workers, shortBudget(st.Budget),
			st.SimSeconds, st.RecordsPerSec, st.BudgetRecPerS, 100*st.BudgetFraction, st.Answers606, st.Answers615, len(st.Errors))
	}
	p("\n![throughput](throughput.png)\n")
	p("\n%s\n\n", Sections[2])
	p("Goal: 0 Marketo writes.\n\n| job | size | workers | Marketo calls | Marketo writes | Certain calls |\n|---|---:|---:|---:|---:|---:|\n")
	for _, st := range r.Steps {
		if st.Run == "second" {
			p("| %s | %d | %d | %d | %d | %d |\n", st.Job, st.Size, st.Workers, st.MarketoCalls, st.MarketoWrites, st.CertainCalls)
		}
	}
	p("\n%s\n\n", Sections[3])
	p("| job | size | records | Certain calls | per record |\n|---|---:|---:|---:|---:|\n")
	for _, st := range r.firsts(1) {
		if st.Job == "import-leads" || st.Job == "sync-leads" {
			p("| %s | %d | %d | %d | %.2f |\n", st.Job, st.Size, st.Records, st.CertainCalls, st.CertainPerRec)
		}
	}
	p("\n%s\n\n", Sections[4])
	r.processMemoryMarkdown(p)
	if m := r.Memory; m != nil {
		p("sync-leads, first run over %d registrations, 1 worker.\n\n", m.Registrations)
		p("| baseline heap | peak heap | peak above baseline | retained after run | transient (job working set) | alloc bytes/record | alloc objects/record |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		p("| %.1f MB | %.1f MB | %.1f MB | %.1f MB | %.1f MB | %.0f | %.0f |\n\n", m.BaselineHeapMB, m.PeakHeapMB, m.PeakAboveBaseMB, m.RetainedAfterMB, m.TransientPeakMB, m.AllocBytesPerRec, m.AllocObjectsPerRec)
		p("%s.\n", m.Note)
	} else {
		p("not measured in this run\n")
	}
	p("\n%s\n\n", Sections[5])
	if len(r.ColdStart) > 0 {
		p("| function | host bootstrap (%s) | arm64 bootstrap | init median (stub, host) | init max | Init Duration (RIE, its own set-up only) |\n|---|---:|---:|---:|---:|---:|\n", r.ColdStart[0].HostArch)
		for _, c := range r.ColdStart {
			med, mx, rie := "n/a", "n/a", "n/a"
			if len(c.InitMs) > 0 {
				med, mx = fmt.Sprintf("%.1f ms", c.InitMedianMs), fmt.Sprintf("%.1f ms", c.InitMaxMs)
			}
			if c.Error == "" || c.RIEInitMs > 0 {
				rie = fmt.Sprintf("%.1f ms", c.RIEInitMs)
			}
			if c.Error != "" {
				rie += " (" + c.Error + ")"
			}
			p("| %s | %.2f MB | %.2f MB | %s | %s | %s |\n", c.Function, float64(c.HostBytes)/mb, float64(c.Arm64Bytes)/mb, med, mx, rie)
		}
	}
	if r.ColdStartNote != "" {
		p("\n%s\n", r.ColdStartNote)
	}
	r.pipelineMarkdown(p)
	p("\n%s\n\n", Sections[7])
	p("%s", r.scaleMarkdown())
	var errs []string
	for _, st := range r.Steps {
		for _, e := range st.Errors {
			errs = append(errs, fmt.Sprintf("%s %s (%d×%d): %s", st.Job, st.Run, st.Size, st.Workers, e))
		}
	}
	if len(errs) > 0 {
		p("\n## Errors seen\n\n")
		for _, e := range errs {
			p("- %s\n", e)
		}
	}
	return b.String()
}

func shortBudget(s string) string {
	if strings.HasPrefix(s, "lib/limit") {
		return "DynamoDB (moto)"
	}
	return "in-process"
}

func yesNo(b bool) string {
	if b {
		return "met"
	}
	return "NOT met"
}

// scaleMarkdown renders the scale scenario's section.
func (r *Report) scaleMarkdown() string {
	sc := r.Scale
	if sc == nil {
		return r.ScaleNote + "\n"
	}
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("%s. All %d sync-leads jobs are due at t0, when the detector also ticks; its changes feed %d trigger-campaign jobs (%d jobs in all).\n\n",
		sc.Setup, sc.Events, sc.Events, sc.Jobs)
	p("| figure | value | goal |\n|---|---:|---|\n")
	p("| events | %d | |\n| jobs | %d | |\n| instances per queue (K) | %d | |\n", sc.Events, sc.Jobs, sc.Consumers)
	p("| makespan (t0 to the last run's end) | %.1f s | ≤ 1.25 × ideal: %s |\n", sc.MakespanSeconds, yesNo(sc.Goals.MakespanWithin125PctOfIdeal))
	p("| ideal (%s) | %.1f s | |\n", sc.IdealRule, sc.IdealSeconds)
	p("| start delay, due to run start: p50 / p99 / max | %.1f / %.1f / %.1f s | p99 ≤ one tick (5 min): %s |\n",
		sc.StartDelayP50Seconds, sc.StartDelayP99Seconds, sc.StartDelayMaxSeconds, yesNo(sc.Goals.P99StartWithinTick))
	p("| detector: events polled per minute, alone (baseline tick: %d in %.1f s) | %.0f | 1,000 within a minute: %s |\n",
		sc.Events, sc.DetectorSeconds, sc.DetectorScopesPerMinute, yesNo(sc.Goals.ThousandScopesPerMinute))
	p("| detector: events polled per minute at t0, beside the jobs | %.0f | |\n", sc.DetectorScopesPerMinuteMixed)
	p("| Marketo 606 / 615 answers | %d / %d | 0: %s |\n", sc.Answers606, sc.Answers615, yesNo(sc.Goals.No606Or615))
	p("| Marketo calls; the busiest instance's at the budget's pace | %d; %.0f s | |\n", sc.MarketoCalls, sc.MarketoFloorSeconds)
	p("| Certain calls; state-store calls | %d; %d | |\n", sc.CertainCalls, sc.StoreCalls)
	p("| invocation time per queue | %s | |\n", kv(sc.WorkSeconds, "%.0f s"))
	p("| invocations per queue | %s | |\n", kvInt(sc.Invocations))
	p("| campaign leads requested; Marketo leads | %d; %d | one per event; one per registration |\n", sc.CampaignLeads, sc.LeadsCreated)
	p("| budgets' DynamoDB calls (conditional checks lost included) | %d (%d) | |\n", sc.BudgetStoreCalls, sc.BudgetStoreFailures)
	p("| CPU busy (this process, and moto_server with -scale-moto) | %.2f of %d cores | |\n", sc.CPUCoresBusy, sc.Cores)
	p("\nWhat bounds it: %s.\n", sc.Bound)
	for _, e := range sc.Errors {
		p("\n- error: %s", e)
	}
	if len(sc.Errors) > 0 {
		p("\n")
	}
	return b.String()
}

func kv(m map[string]float64, f string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+" "+fmt.Sprintf(f, m[k]))
	}
	return strings.Join(parts, ", ")
}

func kvInt(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (r *Report) pipelineMarkdown(p func(string, ...any)) {
	p("\n%s\n\n", Sections[6])
	if len(r.Pipeline) == 0 {
		p("not measured in this run")
		if r.PipelineNote != "" {
			p(": %s", r.PipelineNote)
		}
		p("\n")
		return
	}
	p("%s\n\n", r.PipelineNote)
	p("| job | registrations | invocations | wall s | floor s | wall/floor | bound | Certain calls | 429 | 429 %% | Certain peak in flight | Marketo calls | 606 | 615 | CPU s (jobs + sims) |\n")
	p("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, w := range r.Pipeline {
		pct := 0.0
		if w.CertainCalls > 0 {
			pct = 100 * float64(w.Certain429) / float64(w.CertainCalls)
		}
		p("| %s | %d | %d | %.1f | %.1f | %.2f | %s | %d | %d | %.2f | %d | %d | %d | %d | %.1f |\n", w.Job, w.Registrations, w.Invocations, w.WallSeconds, w.FloorSeconds, w.Ratio, w.Bound,
			w.CertainCalls, w.Certain429, pct, w.CertainPeakInFlight, w.MarketoCalls, w.Marketo606, w.Marketo615, w.CPUSeconds)
	}
	for _, w := range r.Pipeline {
		if len(w.Errors) > 0 {
			p("\n%s ×%d errors: %v\n", w.Job, w.Invocations, w.Errors)
		}
	}
	if sb := r.PipelineSideBySide; sb != nil {
		p("\nSide by side, upsert of %d new leads, same simulator and latency: a script with batches of 300 one after the other and no shared budget took %.1f s (%d calls, %d × 606); the product's client, %.1f s (%d calls, %d × 606): %.1fx faster.\n",
			sb.Leads, sb.ScriptSeconds, sb.ScriptCalls, sb.Script606, sb.ProductSeconds, sb.ProductCalls, sb.Product606, sb.Ratio)
	}
}

func (r *Report) processMemoryMarkdown(p func(string, ...any)) {
	p("### The job's process (deployed binary, simulators in another process)\n\n")
	if len(r.MemoryProcess) > 0 {
		p("| function | registrations | peak RSS (VmHWM) | largest sampled RSS | peak heap | peak live heap | GCs | CPU s | invocations | wall s | outcome | Marketo calls | Certain calls | error |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n")
		for _, m := range r.MemoryProcess {
			p("| %s | %d | %.1f MB | %.1f MB | %.1f MB | %.1f MB | %d | %.1f | %d | %.1f | %s | %d | %d | %s |\n", m.Function, m.Registrations, m.PeakRSSMB, m.SampledRSSMB, m.PeakHeapMB, m.PeakLiveMB,
				m.GCs, m.CPUSeconds, m.Invocations, m.WallSeconds, m.Outcome, m.MarketoCalls, m.CertainCalls, m.Error)
		}
		p("\n")
	}
	if r.MemoryProcessNote != "" {
		p("%s.\n\n", r.MemoryProcessNote)
	}
	p("### The whole bench process (in-process simulators)\n\n")
}
