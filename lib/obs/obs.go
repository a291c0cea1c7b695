// Package obs holds the logging and metrics helpers every function shares.
//
// Lambda's provided.al2023 runtime does no log formatting of its own: with LoggingConfig
// LogFormat JSON it only sets AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL and then
// filters stdout lines by their "level" key (a line without one counts as INFO). So the
// code must write one JSON object per line with level, timestamp and message keys, the
// shape lambdacontext.NewLogger uses, and every line must say which job, run, account and
// event it belongs to, because that is how an operator finds a run in CloudWatch.
// NewLogger builds that logger from values main reads from the environment (this package
// reads none), and With/WithJob/WithRun/WithEvent put the attributes on the context so
// deep library code logs them without threading a logger through every call.
//
// Metrics use CloudWatch Embedded Metric Format: a log line that CloudWatch turns into
// metrics, so no PutMetricData permission or network call is needed (see EmitMetrics).
package obs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Attribute keys attached from the context. They are the names operators query in
// CloudWatch Logs Insights, so they are part of the product's interface.
const (
	KeyJobID     = "jobId"
	KeyRunID     = "runId"
	KeyAccount   = "account"
	KeyEvent     = "event"
	KeyRequestID = "requestId"
)

// LevelTrace and LevelFatal are the two Lambda log levels slog has no name for.
const (
	LevelTrace = slog.Level(-8)
	LevelFatal = slog.Level(12)
)

// ParseLevel maps a Lambda application log level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL;
// any case) to a slog level. The empty string means INFO, Lambda's default.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE":
		return LevelTrace, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "", "INFO":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "FATAL":
		return LevelFatal, nil
	}
	return slog.LevelInfo, fmt.Errorf("obs: unknown log level %q (want TRACE, DEBUG, INFO, WARN, ERROR or FATAL)", s)
}

// levelName is the level string written on every line, in Lambda's vocabulary, so the
// platform's level filter understands it.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	case l < LevelFatal:
		return "ERROR"
	}
	return "FATAL"
}

// NewLogger returns a logger writing to w. format is Lambda's AWS_LAMBDA_LOG_FORMAT:
// "JSON" (any case) gives one JSON object per line with level, timestamp and message keys;
// anything else ("Text", "") gives slog's text format, easier to read on a laptop. level is
// Lambda's AWS_LAMBDA_LOG_LEVEL; an unknown value falls back to INFO rather than failing,
// because a logger must always exist to report the misconfiguration (call ParseLevel in main
// to report it). Attributes added with With* on the context appear on every line, as does
// the Lambda request id when the context carries one.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	lvl, err := ParseLevel(level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: replaceAttr}
	var h slog.Handler
	if strings.EqualFold(strings.TrimSpace(format), "JSON") {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(contextHandler{inner: h})
}

// replaceAttr renames slog's built-in keys to the ones Lambda and lambdacontext use and
// writes levels in Lambda's vocabulary.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		a.Key = "timestamp"
	case slog.MessageKey:
		a.Key = "message"
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(levelName(l))
		}
	}
	return a
}

type ctxKey struct{}

// With returns a context whose log lines carry attrs in addition to those already on ctx.
// A later value for the same key replaces the earlier one.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	if len(attrs) == 0 {
		return ctx
	}
	prev := attrsFrom(ctx)
	merged := make([]slog.Attr, 0, len(prev)+len(attrs))
	for _, p := range prev {
		replaced := false
		for _, a := range attrs {
			if a.Key == p.Key {
				replaced = true
				break
			}
		}
		if !replaced {
			merged = append(merged, p)
		}
	}
	merged = append(merged, attrs...)
	return context.WithValue(ctx, ctxKey{}, merged)
}

// WithJob attaches the job id, account code and event code of the job being run.
func WithJob(ctx context.Context, jobID, account, event string) context.Context {
	return With(ctx, slog.String(KeyJobID, jobID), slog.String(KeyAccount, account), slog.String(KeyEvent, event))
}

// WithRun attaches the id of the run being recorded.
func WithRun(ctx context.Context, runID string) context.Context {
	return With(ctx, slog.String(KeyRunID, runID))
}

// WithEvent attaches an account and event code when no job is known yet (the change
// detector works per event, not per job).
func WithEvent(ctx context.Context, account, event string) context.Context {
	return With(ctx, slog.String(KeyAccount, account), slog.String(KeyEvent, event))
}

// Attrs returns the attributes With* attached to ctx (a copy), for callers that record them
// elsewhere, such as a run record.
func Attrs(ctx context.Context) []slog.Attr {
	return append([]slog.Attr(nil), attrsFrom(ctx)...)
}

func attrsFrom(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	return a
}

// contextHandler adds the context's attributes and the Lambda request id to each record.
type contextHandler struct {
	inner slog.Handler
}

func (h contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String(KeyRequestID, lc.AwsRequestID))
	}
	r.AddAttrs(attrsFrom(ctx)...)
	return h.inner.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{inner: h.inner.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{inner: h.inner.WithGroup(name)}
}
