package bench

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/infra/bench/internal/pipeline"
)

// The pipeline rows reach report.json under "pipeline" with the keys the
// issue names, and report.md as a table with the side-by-side line.
func TestPipelineSectionInBothReports(t *testing.T) {
	rep := &Report{
		Pipeline: []PipelineRow{{Job: "sync-leads", Registrations: 10000, Invocations: 4, WallSeconds: 140.5, FloorSeconds: 134.8, Bound: "certain",
			Certain429: 32, CertainCalls: 6741, Ratio: 1.04}},
		PipelineSideBySide: &pipeline.SideBySide{Leads: 10000, ScriptSeconds: 18.6, ProductSeconds: 2.3, Ratio: 8.1, ScriptCalls: 34, ProductCalls: 34},
		PipelineNote:       "note",
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Pipeline []map[string]any `json:"pipeline"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Pipeline) != 1 {
		t.Fatalf("pipeline in report.json: %v, %v", back.Pipeline, err)
	}
	for _, k := range []string{"job", "registrations", "invocations", "wallSeconds", "floorSeconds", "bound", "certain429", "marketo606", "marketo615"} {
		if _, ok := back.Pipeline[0][k]; !ok {
			t.Errorf("pipeline row lacks %q: %v", k, back.Pipeline[0])
		}
	}
	md := rep.Markdown()
	for _, want := range []string{Sections[6], "| sync-leads | 10000 | 4 | 140.5 | 134.8 | 1.04 | certain | 6741 | 32 | 0.47 |", "8.1x faster"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if md := (&Report{PipelineNote: "not measured in this run"}).Markdown(); !strings.Contains(md, Sections[6]+"\n\nnot measured") {
		t.Errorf("report.md without pipeline rows:\n%s", md)
	}
}
