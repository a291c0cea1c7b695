package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/certain-marketo/certain-marketo/lib/secrets"
)

// SecretsAPI lists the Secrets Manager calls put-secret makes;
// *secretsmanager.Client satisfies it.
type SecretsAPI interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// PutSecretResult says what put-secret did; it never holds the value.
type PutSecretResult struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // marketo or certain
	Action    string `json:"action"`
	ARN       string `json:"arn,omitempty"`
	VersionID string `json:"versionId,omitempty"`
}

// CheckSecret checks that raw is the documented JSON of a Marketo or
// Certain secret (kind "" = either) with the functions' own parser, and
// returns which. Errors name the secret and the key, never the value.
func CheckSecret(ctx context.Context, name, kind string, raw []byte) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(raw, se.Offset)
			return "", fmt.Errorf("not valid JSON (line %d, column %d)", line, col)
		}
		return "", errors.New("not a JSON object")
	}
	m := secrets.New(secrets.Static{name: string(raw)}, time.Minute, nil)
	var merr, cerr error
	if kind == "" || kind == "marketo" {
		if _, merr = m.Marketo(ctx, name); merr == nil {
			return "marketo", nil
		}
	}
	if kind == "" || kind == "certain" {
		if _, cerr = m.Certain(ctx, name); cerr == nil {
			return "certain", nil
		}
	}
	switch kind {
	case "marketo":
		return "", merr
	case "certain":
		return "", cerr
	}
	return "", fmt.Errorf("neither Marketo nor Certain credentials: %v; %v", merr, cerr)
}

func runPutSecret(ctx context.Context, e Env, args []string) error {
	var c common
	fs := newFlags("put-secret", e, &c)
	file := fs.String("file", "", "the secret's JSON")
	kind := fs.String("kind", "", "marketo or certain")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usagef("want exactly one secret NAME, got %d arguments", len(pos))
	case *file == "":
		return usagef("--file is required (the value is never taken from the command line)")
	case *kind != "" && *kind != "marketo" && *kind != "certain":
		return usagef("--kind %q: want marketo or certain", *kind)
	}
	name := pos[0]
	raw, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	raw = bytes.TrimSpace(raw)
	k, err := CheckSecret(ctx, name, *kind, raw)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return err
	}
	res, err := PutSecret(ctx, secretsmanager.NewFromConfig(cfg), name, string(raw))
	if err != nil {
		return err
	}
	res.Kind = k
	if c.json {
		return writeJSON(e.Stdout, res)
	}
	fmt.Fprintf(e.Stdout, "secret %q (%s credentials) %s, version %s\n  arn: %s\n", res.Name, res.Kind, res.Action, res.VersionID, res.ARN)
	return nil
}

// PutSecret creates the secret, or adds a new current version when it
// exists.
func PutSecret(ctx context.Context, api SecretsAPI, name, value string) (PutSecretResult, error) {
	res := PutSecretResult{Name: name}
	out, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value),
		Description: aws.String("certain-marketo credentials (written by cmctl put-secret)"),
	})
	if err == nil {
		res.Action, res.ARN, res.VersionID = "created", aws.ToString(out.ARN), aws.ToString(out.VersionId)
		return res, nil
	}
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		return res, fmt.Errorf("create secret %q: %w", name, err)
	}
	up, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		return res, fmt.Errorf("update secret %q: %w", name, err)
	}
	res.Action, res.ARN, res.VersionID = "updated", aws.ToString(up.ARN), aws.ToString(up.VersionId)
	return res, nil
}
