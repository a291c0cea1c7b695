// Package obs writes the product's metrics: CloudWatch Embedded Metric Format
// lines, which CloudWatch turns into metrics, so no PutMetricData permission
// or network call is needed (see EmitMetrics).
//
// Logging needs no helper here: each function's main installs
// lambdacontext.NewLogger (JSON with level, timestamp, message and requestId,
// honouring the function's LoggingConfig), and lib/jobs adds the job, run,
// account and event to every line of a run with slog's With.
package obs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// EMF limits from the CloudWatch "Embedded metric format specification".
const (
	maxEMFMetrics    = 100
	maxEMFDimensions = 30
	maxEMFValues     = 100 // values of one metric in one line
)

// MetricLevel is the level written on every EMF line. Lambda drops lines below the
// function's ApplicationLogLevel, and a dropped EMF line is a lost metric, so the template
// only allows application levels up to INFO (tests/template asserts it).
const MetricLevel = "INFO"

// EmitMetrics writes one CloudWatch Embedded Metric Format line to w: the metrics under
// namespace, with one dimension set made of every key of dims, stamped with now. It is
// Line{...}.Write with a single dimension set; see Line for the rules.
func EmitMetrics(w io.Writer, namespace string, dims map[string]string, metrics map[string]float64, now time.Time) error {
	return Line{Namespace: namespace, Dimensions: dims, Metrics: metrics, Time: now}.Write(w)
}

// Line is one CloudWatch Embedded Metric Format line.
//
// A metric's unit follows its name: a name ending in "Ms" is Milliseconds, "Seconds" is
// Seconds, "Bytes" is Bytes, "Percent" is Percent, anything else is Count.
type Line struct {
	Namespace  string
	Dimensions map[string]string // name -> value
	// Metrics are the metrics with one value.
	Metrics map[string]float64
	// Series are metrics with several values in this line (at most 100 each), such as one
	// latency per request: CloudWatch keeps each value, so percentiles see them all.
	Series map[string][]float64
	Time   time.Time
}

// Write writes the line to w, with one dimension set made of every key of Dimensions and
// keys in sorted order, so the line is stable for a given input. It returns an error
// naming the problem, and writes nothing, for an empty namespace, no metrics, more than
// 100 metrics or 30 dimensions, a series of no or more than 100 values, a NaN or infinite
// value, an empty name, or a name used twice or clashing with the reserved keys "_aws"
// and "level".
func (l Line) Write(w io.Writer) error {
	if strings.TrimSpace(l.Namespace) == "" {
		return errors.New("obs: EMF namespace is empty")
	}
	n := len(l.Metrics) + len(l.Series)
	if n == 0 {
		return errors.New("obs: EMF line has no metrics")
	}
	if n > maxEMFMetrics {
		return fmt.Errorf("obs: EMF line has %d metrics, the limit is %d", n, maxEMFMetrics)
	}
	line := make(map[string]any, len(l.Dimensions)+n+2)
	dimNames := make([]string, 0, len(l.Dimensions))
	for k, v := range l.Dimensions {
		if err := checkEMFKey("dimension", k); err != nil {
			return err
		}
		dimNames = append(dimNames, k)
		line[k] = v
	}
	sort.Strings(dimNames)
	if len(dimNames) > maxEMFDimensions {
		return fmt.Errorf("obs: EMF line has %d dimensions, the limit is %d", len(dimNames), maxEMFDimensions)
	}
	metricNames := make([]string, 0, n)
	add := func(k string, v any, values ...float64) error {
		if err := checkEMFKey("metric", k); err != nil {
			return err
		}
		if _, dup := line[k]; dup {
			return fmt.Errorf("obs: EMF name %q is used twice (dimension, metric or series)", k)
		}
		for _, x := range values {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("obs: EMF metric %q has value %v, which JSON cannot carry", k, x)
			}
		}
		metricNames = append(metricNames, k)
		line[k] = v
		return nil
	}
	for k, v := range l.Metrics {
		if err := add(k, v, v); err != nil {
			return err
		}
	}
	for k, vs := range l.Series {
		if len(vs) == 0 || len(vs) > maxEMFValues {
			return fmt.Errorf("obs: EMF series %q has %d values, want 1 to %d", k, len(vs), maxEMFValues)
		}
		if err := add(k, vs, vs...); err != nil {
			return err
		}
	}
	sort.Strings(metricNames)

	defs := make([]emfMetric, len(metricNames))
	for i, name := range metricNames {
		defs[i] = emfMetric{Name: name, Unit: unitFor(name)}
	}
	line["level"] = MetricLevel
	line["_aws"] = emfMeta{
		Timestamp: l.Time.UnixMilli(),
		CloudWatchMetrics: []emfDirective{{
			Namespace:  l.Namespace,
			Dimensions: [][]string{dimNames},
			Metrics:    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("obs: encode EMF line: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("obs: write EMF line: %w", err)
	}
	return nil
}

func checkEMFKey(kind, k string) error {
	if strings.TrimSpace(k) == "" {
		return fmt.Errorf("obs: EMF %s name is empty", kind)
	}
	if k == "_aws" || k == "level" {
		return fmt.Errorf("obs: EMF %s name %q is reserved", kind, k)
	}
	return nil
}

func unitFor(name string) string {
	switch {
	case strings.HasSuffix(name, "Ms"):
		return "Milliseconds"
	case strings.HasSuffix(name, "Seconds"):
		return "Seconds"
	case strings.HasSuffix(name, "Bytes"):
		return "Bytes"
	case strings.HasSuffix(name, "Percent"):
		return "Percent"
	}
	return "Count"
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}
