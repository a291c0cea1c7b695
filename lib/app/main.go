package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// Each Main* is the whole of a function's main after it has read the
// environment: build the dependencies once (init), then serve invocations.
// They return only on a set-up error; main prints it and exits.

func setup(lookup func(string) (string, bool), needQueue bool) (*Deps, error) {
	s, err := SettingsFromEnv(lookup, needQueue)
	if err != nil {
		return nil, err
	}
	// lambdacontext's logger writes JSON (with level, timestamp, message,
	// requestId) when LoggingConfig says JSON, and honours the level.
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	d, err := NewDeps(context.Background(), s, log)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	return d, nil
}

// MainScheduled serves a scheduled function running the given job types.
func MainScheduled(lookup func(string) (string, bool), funcs map[string]jobs.JobFunc) error {
	d, err := setup(lookup, false)
	if err != nil {
		return err
	}
	served := make([]string, 0, len(funcs))
	for t := range funcs {
		served = append(served, t)
	}
	lambda.Start(ScheduledHandler(d.Executor(funcs), served...))
	return nil
}

// MainTrigger serves trigger-campaign (SQS registration-change batches).
func MainTrigger(lookup func(string) (string, bool)) error {
	d, err := setup(lookup, false)
	if err != nil {
		return err
	}
	lambda.Start(SQSChangeHandler(d.Trigger(), d.Logger))
	return nil
}

// MainDetector serves registration-changes (the change detector tick).
func MainDetector(lookup func(string) (string, bool)) error {
	d, err := setup(lookup, true)
	if err != nil {
		return err
	}
	lambda.Start(DetectorHandler(d.Detector()))
	return nil
}
