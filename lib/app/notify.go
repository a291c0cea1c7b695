package app

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/certain-marketo/certain-marketo/lib/jobs"
)

// SNSPublisher is what SNSNotifier needs of the SNS client (*sns.Client).
type SNSPublisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSNotifier publishes run notices to the stack's operations topic
// (ALERT_TOPIC_ARN; the functions may only sns:Publish to it). Each notice
// is one message: its subject (used by e-mail subscriptions), its plain
// text body, and its attributes as String message attributes, so that a
// subscription can filter, for example on outcome or jobType.
type SNSNotifier struct {
	Client   SNSPublisher
	TopicARN string
}

var _ jobs.Notifier = (*SNSNotifier)(nil)

// Notify implements jobs.Notifier.
func (n *SNSNotifier) Notify(ctx context.Context, notice jobs.Notice) error {
	attrs := make(map[string]snstypes.MessageAttributeValue, len(notice.Attributes))
	for _, k := range slices.Sorted(maps.Keys(notice.Attributes)) {
		attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(notice.Attributes[k])}
	}
	in := &sns.PublishInput{TopicArn: aws.String(n.TopicARN), Message: aws.String(notice.Body), MessageAttributes: attrs}
	if notice.Subject != "" {
		in.Subject = aws.String(notice.Subject)
	}
	if _, err := n.Client.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish run notice to %s: %w", n.TopicARN, err)
	}
	return nil
}
