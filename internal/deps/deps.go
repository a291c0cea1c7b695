package deps
import (
 _ "github.com/aws/aws-lambda-go/lambda"
 _ "github.com/aws/aws-lambda-go/events"
 _ "github.com/aws/aws-lambda-go/lambdacontext"
 _ "github.com/aws/aws-sdk-go-v2/aws"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/service/dynamodb"
 _ "github.com/aws/aws-sdk-go-v2/service/sqs"
 _ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
 _ "github.com/aws/aws-sdk-go-v2/service/scheduler"
 _ "github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
 _ "github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
 _ "golang.org/x/sync/errgroup"
 _ "gopkg.in/yaml.v3"
)
