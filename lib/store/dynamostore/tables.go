package dynamostore

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Key attribute names and the TTL attribute shared by both tables.
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrExpiresAt = "expiresAt"
)

// TableDef is one table's key schema as the code relies on it.
type TableDef struct {
	LogicalID string // template.yaml resource
	EnvVar    string // environment variable carrying the table name
	HashKey   string // string attribute
	RangeKey  string // string attribute
	TTL       string // TTL attribute, "" when none
}

// TableDefs returns the config and state table definitions.
func TableDefs() []TableDef {
	return []TableDef{
		{LogicalID: "ConfigTable", EnvVar: "CONFIG_TABLE", HashKey: AttrPK, RangeKey: AttrSK},
		{LogicalID: "StateTable", EnvVar: "STATE_TABLE", HashKey: AttrPK, RangeKey: AttrSK, TTL: AttrExpiresAt},
	}
}

// TableNames are the deployed names of the two tables.
type TableNames struct {
	Config string
	State  string
}

// Name returns the deployed name of d.
func (n TableNames) Name(d TableDef) string {
	if d.LogicalID == "ConfigTable" {
		return n.Config
	}
	return n.State
}

// CreateTableInput returns the CreateTable request for d named name
// (PAY_PER_REQUEST). TTL is enabled separately with UpdateTimeToLive.
func (d TableDef) CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(d.HashKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(d.RangeKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(d.HashKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(d.RangeKey), KeyType: types.KeyTypeRange},
		},
	}
}
