package main

import (
	"errors"
	"flag"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// limitFlags are the tenant's limits and latency (certaintest's
// WithRateLimit, WithConcurrencyLimit, WithLatencyRange and
// WithoutRetryAfter); none is on by default.
type limitFlags struct {
	rate, concurrency   int
	latency, latencyMax time.Duration
	retryAfter          bool
}

func (o *limitFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&o.rate, "rate", 0, "calls per second per account before 429 (0 = no limit)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "calls in flight per account before 429 (0 = no limit)")
	fs.DurationVar(&o.latency, "latency", 0, "latency per call (the least, with -latency-max)")
	fs.DurationVar(&o.latencyMax, "latency-max", 0, "the most latency per call: each call draws from -latency..-latency-max (default -latency)")
	fs.BoolVar(&o.retryAfter, "retry-after", true, "send Retry-After with the limits' 429s")
}

// options checks the flags and returns the simulator options they stand for.
func (o limitFlags) options() ([]certaintest.Option, error) {
	if o.rate < 0 || o.concurrency < 0 || o.latency < 0 || o.latencyMax < 0 {
		return nil, errors.New("-rate, -concurrency, -latency and -latency-max must not be negative")
	}
	opts := []certaintest.Option{certaintest.WithRateLimit(o.rate), certaintest.WithConcurrencyLimit(o.concurrency),
		certaintest.WithLatencyRange(o.latency, o.latencyMax)}
	if !o.retryAfter {
		opts = append(opts, certaintest.WithoutRetryAfter())
	}
	return opts, nil
}
