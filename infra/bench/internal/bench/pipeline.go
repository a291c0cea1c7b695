package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/certain-marketo/certain-marketo/infra/bench/internal/pipeline"
)

// PipelineRow is one row of the pipeline section: a job at real latencies
// and limits against its floor (package pipeline).
type PipelineRow = pipeline.Row

// runPipeline measures the pipeline section in its own process (go test
// runs the measurement in testing/synctest bubbles, package pipeline).
func runPipeline(ctx context.Context, o Options) (*pipeline.Figures, error) {
	out, err := filepath.Abs(filepath.Join(o.Out, "pipeline.json"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout=40m", "-run=^TestPipelineFigures$", "./infra/bench/internal/pipeline/",
		"-args", "-pipeline.out="+out, "-pipeline.registrations="+strconv.Itoa(o.PipelineSize))
	cmd.Dir = o.RepoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pipeline measurement: %w: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var f pipeline.Figures
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read %s: %w", out, err)
	}
	return &f, nil
}
