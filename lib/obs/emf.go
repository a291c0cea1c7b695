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
)

// MetricLevel is the level written on every EMF line. Lambda drops lines below the
// function's ApplicationLogLevel, and a dropped EMF line is a lost metric, so the template
// only allows application levels up to INFO (tests/template asserts it).
const MetricLevel = "INFO"

// EmitMetrics writes one CloudWatch Embedded Metric Format line to w: the metrics under
// namespace, with one dimension set made of every key of dims, stamped with now. A metric's
// unit follows its name: a name ending in "Ms" is Milliseconds, "Seconds" is Seconds,
// "Bytes" is Bytes, anything else is Count. Keys are written in sorted order, so the line
// is stable for a given input.
//
// It returns an error naming the problem, and writes nothing, for an empty namespace, no
// metrics, more than 100 metrics or 30 dimensions, a NaN or infinite value, an empty name,
// or a name used both as a dimension and a metric or clashing with the reserved keys
// "_aws" and "level".
func EmitMetrics(w io.Writer, namespace string, dims map[string]string, metrics map[string]float64, now time.Time) error {
	if strings.TrimSpace(namespace) == "" {
		return errors.New("obs: EMF namespace is empty")
	}
	if len(metrics) == 0 {
		return errors.New("obs: EMF line has no metrics")
	}
	if len(metrics) > maxEMFMetrics {
		return fmt.Errorf("obs: EMF line has %d metrics, the limit is %d", len(metrics), maxEMFMetrics)
	}
	if len(dims) > maxEMFDimensions {
		return fmt.Errorf("obs: EMF line has %d dimensions, the limit is %d", len(dims), maxEMFDimensions)
	}
	line := make(map[string]any, len(dims)+len(metrics)+2)
	dimNames := make([]string, 0, len(dims))
	for k, v := range dims {
		if err := checkEMFKey("dimension", k); err != nil {
			return err
		}
		dimNames = append(dimNames, k)
		line[k] = v
	}
	sort.Strings(dimNames)
	metricNames := make([]string, 0, len(metrics))
	for k, v := range metrics {
		if err := checkEMFKey("metric", k); err != nil {
			return err
		}
		if _, dup := dims[k]; dup {
			return fmt.Errorf("obs: EMF name %q is both a dimension and a metric", k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("obs: EMF metric %q has value %v, which JSON cannot carry", k, v)
		}
		metricNames = append(metricNames, k)
		line[k] = v
	}
	sort.Strings(metricNames)

	defs := make([]emfMetric, len(metricNames))
	for i, n := range metricNames {
		defs[i] = emfMetric{Name: n, Unit: unitFor(n)}
	}
	dimSets := [][]string{dimNames}
	line["level"] = MetricLevel
	line["_aws"] = emfMeta{
		Timestamp: now.UnixMilli(),
		CloudWatchMetrics: []emfDirective{{
			Namespace:  namespace,
			Dimensions: dimSets,
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
