package obs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestEmitMetricsShape(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 4, 1, 8, 3, 11, 500_000_000, time.UTC)
	err := EmitMetrics(&buf, "CertainMarketo",
		map[string]string{"JobType": "sync-leads", "Stage": "dev"},
		map[string]float64{"RecordsFailed": 3, "RunDurationMs": 1250.5, "RecordsCreated": 10},
		now)
	if err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Fatalf("want exactly one line, got %q", s)
	}
	var line struct {
		Level string `json:"level"`
		AWS   struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		JobType        string
		Stage          string
		RecordsFailed  float64
		RunDurationMs  float64
		RecordsCreated float64
	}
	if err := json.Unmarshal([]byte(s), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, s)
	}
	if line.Level != "INFO" {
		t.Errorf("level = %q, want INFO", line.Level)
	}
	if line.AWS.Timestamp != now.UnixMilli() {
		t.Errorf("Timestamp = %d, want %d", line.AWS.Timestamp, now.UnixMilli())
	}
	if len(line.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("directives = %d, want 1", len(line.AWS.CloudWatchMetrics))
	}
	d := line.AWS.CloudWatchMetrics[0]
	if d.Namespace != "CertainMarketo" {
		t.Errorf("Namespace = %q", d.Namespace)
	}
	if fmt.Sprint(d.Dimensions) != "[[JobType Stage]]" {
		t.Errorf("Dimensions = %v", d.Dimensions)
	}
	if fmt.Sprint(d.Metrics) != "[{RecordsCreated Count} {RecordsFailed Count} {RunDurationMs Milliseconds}]" {
		t.Errorf("Metrics = %v", d.Metrics)
	}
	if line.JobType != "sync-leads" || line.Stage != "dev" || line.RecordsFailed != 3 || line.RunDurationMs != 1250.5 || line.RecordsCreated != 10 {
		t.Errorf("values not at top level: %s", s)
	}
}

func TestEmitMetricsStable(t *testing.T) {
	emit := func() string {
		var buf bytes.Buffer
		err := EmitMetrics(&buf, "NS", map[string]string{"B": "1", "A": "2"},
			map[string]float64{"Z": 1, "Y": 2, "X": 3}, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	first := emit()
	for range 20 {
		if got := emit(); got != first {
			t.Fatalf("output differs between calls:\n%s\n%s", first, got)
		}
	}
}

func TestEmitMetricsRejects(t *testing.T) {
	many := func(n int, prefix string) map[string]float64 {
		m := make(map[string]float64, n)
		for i := range n {
			m[fmt.Sprintf("%s%d", prefix, i)] = 1
		}
		return m
	}
	manyDims := make(map[string]string, 31)
	for i := range 31 {
		manyDims[fmt.Sprintf("D%d", i)] = "x"
	}
	tests := []struct {
		name    string
		ns      string
		dims    map[string]string
		metrics map[string]float64
		want    string
	}{
		{"empty namespace", " ", nil, map[string]float64{"A": 1}, "namespace"},
		{"no metrics", "NS", nil, nil, "no metrics"},
		{"too many metrics", "NS", nil, many(101, "M"), "101 metrics"},
		{"too many dimensions", "NS", manyDims, map[string]float64{"A": 1}, "31 dimensions"},
		{"NaN", "NS", nil, map[string]float64{"A": math.NaN()}, `"A"`},
		{"Inf", "NS", nil, map[string]float64{"A": math.Inf(1)}, `"A"`},
		{"dup name", "NS", map[string]string{"A": "x"}, map[string]float64{"A": 1}, "twice"},
		{"reserved level", "NS", nil, map[string]float64{"level": 1}, "reserved"},
		{"reserved _aws", "NS", map[string]string{"_aws": "x"}, map[string]float64{"A": 1}, "reserved"},
		{"empty metric name", "NS", nil, map[string]float64{"": 1}, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := EmitMetrics(&buf, tc.ns, tc.dims, tc.metrics, time.Unix(0, 0))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %q on error", buf.String())
			}
		})
	}
	if err := EmitMetrics(new(bytes.Buffer), "NS", nil, many(100, "M"), time.Unix(0, 0)); err != nil {
		t.Errorf("100 metrics is within the limit: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEmitMetricsWriteError(t *testing.T) {
	err := EmitMetrics(failWriter{}, "NS", nil, map[string]float64{"A": 1}, time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error = %v, want the writer's error wrapped", err)
	}
}

// A line with a series: CloudWatch keeps every value of it.
func TestLineSeries(t *testing.T) {
	var buf bytes.Buffer
	err := Line{
		Namespace:  "CertainMarketo",
		Dimensions: map[string]string{"Stage": "prod", "JobType": "trigger-campaign"},
		Metrics:    map[string]float64{"Runs": 1, "RecordsFailedPercent": 12.5},
		Series:     map[string][]float64{"ChangeToCampaignMs": {61000, 75500}},
		Time:       time.Unix(1_700_000_000, 0),
	}.Write(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		ChangeToCampaignMs   []float64
		RecordsFailedPercent float64
		Stage, JobType       string
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	d := line.AWS.CloudWatchMetrics[0]
	if fmt.Sprint(d.Dimensions) != "[[JobType Stage]]" {
		t.Errorf("Dimensions = %v, want one set of every dimension", d.Dimensions)
	}
	if got := fmt.Sprint(d.Metrics); got != "[{ChangeToCampaignMs Milliseconds} {RecordsFailedPercent Percent} {Runs Count}]" {
		t.Errorf("Metrics = %s", got)
	}
	if fmt.Sprint(line.ChangeToCampaignMs) != "[61000 75500]" || line.RecordsFailedPercent != 12.5 || line.Stage != "prod" || line.JobType != "trigger-campaign" {
		t.Errorf("values = %s", buf.String())
	}
}

func TestLineRejects(t *testing.T) {
	long := make([]float64, 101)
	tests := []struct {
		name string
		line Line
		want string
	}{
		{"empty series", Line{Series: map[string][]float64{"LatencyMs": {}}}, "0 values"},
		{"long series", Line{Series: map[string][]float64{"LatencyMs": long}}, "101 values"},
		{"NaN in series", Line{Series: map[string][]float64{"LatencyMs": {1, math.NaN()}}}, `"LatencyMs"`},
		{"metric and series share a name", Line{Metrics: map[string]float64{"A": 1}, Series: map[string][]float64{"A": {1}}}, "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.line.Namespace = "NS"
			var buf bytes.Buffer
			err := tc.line.Write(&buf)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %q on error", buf.String())
			}
		})
	}
}
