package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
	"github.com/certain-marketo/certain-marketo/lib/limit"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
)

// SecretsTTL is how long a credential is cached in a warm Lambda.
const SecretsTTL = 5 * time.Minute

// Deps are the dependencies every function builds once at init and reuses
// across invocations.
type Deps struct {
	Settings  Settings
	AWS       aws.Config
	Store     *dynamostore.Store
	Secrets   *secrets.Manager
	Connector *Connector
	Logger    *slog.Logger

	sqsOnce sync.Once
	sqs     *sqs.Client
}

// NewDeps builds the AWS clients, the DynamoDB store, the secrets cache and
// the connector. The AWS SDK finds its own credentials and endpoints
// (AWS_ENDPOINT_URL_* points it at moto_server in local runs).
func NewDeps(ctx context.Context, s Settings, log *slog.Logger) (*Deps, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(SDKLogger(log)))
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	st, err := dynamostore.New(ddb, s.ConfigTable, s.StateTable)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sec := secrets.New(secretsmanager.NewFromConfig(cfg), SecretsTTL, time.Now)
	f := limit.Factory{Mode: s.BudgetMode, DB: ddb, Table: s.StateTable}
	return &Deps{
		Settings: s, AWS: cfg, Store: st, Secrets: sec, Logger: log,
		Connector: &Connector{Secrets: sec, Budgets: Budgets(f), CertainBudgets: CertainBudgets(f), Logger: log},
	}, nil
}

// Reporter is where finished runs are reported: their EMF lines on stdout
// and, with ALERT_TOPIC_ARN set, their notices on the operations topic.
func (d *Deps) Reporter() jobs.Reporter {
	rp := jobs.Reporter{Metrics: os.Stdout, Stage: d.Settings.Stage, Quiet: d.Settings.NoticeQuiet}
	if d.Settings.AlertTopicARN != "" {
		rp.Notifier = &SNSNotifier{Client: sns.NewFromConfig(d.AWS), TopicARN: d.Settings.AlertTopicARN}
	}
	return rp
}

// Telemetry is where the detector's heartbeat and the Marketo budgets'
// usage go: stdout, dimensioned by the stage.
func (d *Deps) Telemetry() Telemetry {
	return Telemetry{W: os.Stdout, Stage: d.Settings.Stage}
}

// Executor returns the executor of a scheduled function.
func (d *Deps) Executor(funcs map[string]jobs.JobFunc) *jobs.Executor {
	return &jobs.Executor{Store: d.Store, Connector: d.Connector, Funcs: funcs, Logger: d.Logger, Margin: d.Settings.DeadlineMargin, Report: d.Reporter()}
}

// Trigger returns trigger-campaign's change handler.
func (d *Deps) Trigger() *jobs.Trigger {
	return &jobs.Trigger{Store: d.Store, Connector: d.Connector, Logger: d.Logger, Margin: d.Settings.DeadlineMargin, Report: d.Reporter()}
}

// Postponer returns what keeps quota-stopped changes on the queue until the
// quota resets.
func (d *Deps) Postponer() *Postponer {
	return &Postponer{Client: d.sqsClient(), QueueURL: d.Settings.ChangeQueueURL}
}

// WorkQueue returns the function's own work queue (WORK_QUEUE_URL).
func (d *Deps) WorkQueue() *WorkQueue {
	return &WorkQueue{Client: d.sqsClient(), QueueURL: d.Settings.WorkQueueURL}
}

// sqsClient is the process's one SQS client.
func (d *Deps) sqsClient() *sqs.Client {
	d.sqsOnce.Do(func() { d.sqs = sqs.NewFromConfig(d.AWS) })
	return d.sqs
}

// Detector returns registration-changes' detector: it queues scope messages
// on its work queue and sends the changes it finds to the change queue.
func (d *Deps) Detector() *jobs.Detector {
	return &jobs.Detector{
		Store: d.Store, Connector: d.Connector, Logger: d.Logger, Margin: d.Settings.DeadlineMargin,
		EmitBaseline: d.Settings.EmitBaseline, Queue: d.WorkQueue(),
		Sender: &SQSSender{Client: d.sqsClient(), QueueURL: d.Settings.ChangeQueueURL},
	}
}

// SDKLogger routes the AWS SDK's own warnings (a response body it could not
// drain, a checksum it could not verify) into the function's structured log,
// so every line a function prints stays one JSON object
// (docs/operations.md §6, "Logs").
func SDKLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelWarn
		if c == logging.Debug {
			level = slog.LevelDebug
		}
		log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
	})
}
