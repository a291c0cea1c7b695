// Package secrets loads Marketo and Certain credentials from AWS Secrets
// Manager by ARN or name, using GetSecretValue only (docs/architecture.md §4: the
// official caching library also calls DescribeSecret, which would need a
// second IAM grant), behind a small TTL cache so a warm Lambda does not
// fetch them on every invocation.
//
// Secret shapes (one JSON object per secret; unknown keys are rejected so a
// misspelt key is reported instead of silently missing):
//
//	Marketo: {"munchkinId": "123-ABC-456", "clientId": "...", "clientSecret": "..."}
//	     or: {"baseURL": "https://123-ABC-456.mktorest.com", "identityURL": "...", "clientId": "...", "clientSecret": "..."}
//	         exactly one of baseURL / munchkinId; identityURL is optional: the
//	         identity service as Admin > Web Services shows it
//	         ("https://123-ABC-456.mktorest.com/identity"), passed to lib/marketo
//	         as given (default there: baseURL + "/identity"; it appends
//	         /oauth/token).
//	Certain: {"username": "...", "password": "..."}
//
// For local runs, Static serves the same JSON from memory; LoadFile reads
// it from a file, and main may build it from environment values (this
// package never reads the environment).
//
// Secret values never appear in errors, and the credential types print and
// log in redacted form (String, GoString, Format, MarshalJSON, LogValue).
package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/sync/singleflight"
)

// GetSecretValueAPI is the one Secrets Manager call used;
// *secretsmanager.Client satisfies it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// ErrNotFound is returned (wrapped) when a Static source has no such secret.
var ErrNotFound = errors.New("secret not found")

// DefaultTTL is how long a fetched secret is reused.
const DefaultTTL = 5 * time.Minute

// Manager fetches and caches credentials. Safe for concurrent use.
type Manager struct {
	api   GetSecretValueAPI
	ttl   time.Duration
	now   func() time.Time
	group singleflight.Group

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	raw     string
	fetched time.Time
}

// New returns a Manager. ttl <= 0 means DefaultTTL; now nil means time.Now.
func New(api GetSecretValueAPI, ttl time.Duration, now func() time.Time) *Manager {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Manager{api: api, ttl: ttl, now: now, cache: map[string]entry{}}
}

// Invalidate drops a cached secret, e.g. after the service rejected it, so
// the next call fetches a rotated value.
func (m *Manager) Invalidate(id string) {
	m.mu.Lock()
	delete(m.cache, id)
	m.mu.Unlock()
}

func (m *Manager) get(ctx context.Context, id string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errors.New("secrets: empty secret id")
	}
	m.mu.Lock()
	e, ok := m.cache[id]
	m.mu.Unlock()
	if ok && m.now().Sub(e.fetched) < m.ttl {
		return e.raw, nil
	}
	v, err, _ := m.group.Do(id, func() (any, error) {
		out, err := m.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return "", fmt.Errorf("secrets: get %q: %w", id, err)
		}
		raw := aws.ToString(out.SecretString)
		if raw == "" && len(out.SecretBinary) > 0 {
			raw = string(out.SecretBinary)
		}
		if raw == "" {
			return "", fmt.Errorf("secrets: %q has no value", id)
		}
		m.mu.Lock()
		m.cache[id] = entry{raw: raw, fetched: m.now()}
		m.mu.Unlock()
		return raw, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// decode parses a secret strictly; its errors never quote the value.
func decode(id, kind, raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data")
		}
	}
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	reason := "not a JSON object of the documented shape"
	switch {
	case errors.As(err, &syn):
		reason = fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		reason = fmt.Sprintf("key %q must be a %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		reason = "unknown key " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case err.Error() == "trailing data":
		reason = "data after the JSON object"
	}
	return fmt.Errorf("secrets: %q is not valid %s credentials: %s", id, kind, reason)
}

// Marketo returns the Marketo credentials stored under id.
func (m *Manager) Marketo(ctx context.Context, id string) (MarketoCredentials, error) {
	raw, err := m.get(ctx, id)
	if err != nil {
		return MarketoCredentials{}, err
	}
	var c MarketoCredentials
	if err := decode(id, "Marketo", raw, (*marketoJSON)(&c)); err != nil {
		return MarketoCredentials{}, err
	}
	if err := c.normalise(); err != nil {
		return MarketoCredentials{}, fmt.Errorf("secrets: %q is not valid Marketo credentials: %w", id, err)
	}
	return c, nil
}

// Certain returns the Certain credentials stored under id.
func (m *Manager) Certain(ctx context.Context, id string) (CertainCredentials, error) {
	raw, err := m.get(ctx, id)
	if err != nil {
		return CertainCredentials{}, err
	}
	var c CertainCredentials
	if err := decode(id, "Certain", raw, (*certainJSON)(&c)); err != nil {
		return CertainCredentials{}, err
	}
	switch {
	case strings.TrimSpace(c.Username) == "":
		return CertainCredentials{}, fmt.Errorf("secrets: %q is not valid Certain credentials: username is required", id)
	case c.Password == "":
		return CertainCredentials{}, fmt.Errorf("secrets: %q is not valid Certain credentials: password is required", id)
	}
	return c, nil
}

// MarketoCredentials identify one Marketo instance and API user.
type MarketoCredentials struct {
	BaseURL      string // REST host, e.g. https://123-ABC-456.mktorest.com (no /rest)
	MunchkinID   string
	IdentityURL  string // the identity service as Admin > Web Services shows it (…/identity), kept as given; lib/marketo appends /oauth/token; "" = BaseURL + "/identity"
	ClientID     string
	ClientSecret string
}

// marketoJSON is the secret's wire shape (MarketoCredentials itself
// marshals redacted).
type marketoJSON struct {
	BaseURL      string `json:"baseURL"`
	MunchkinID   string `json:"munchkinId"`
	IdentityURL  string `json:"identityURL"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

var munchkinRE = regexp.MustCompile(`^[A-Za-z0-9]{3}-[A-Za-z0-9]{3}-[A-Za-z0-9]{3}$`)

func (c *MarketoCredentials) normalise() error {
	switch {
	case c.BaseURL == "" && c.MunchkinID == "":
		return errors.New("one of baseURL or munchkinId is required")
	case c.BaseURL != "" && c.MunchkinID != "":
		return errors.New("give baseURL or munchkinId, not both")
	case strings.TrimSpace(c.ClientID) == "":
		return errors.New("clientId is required")
	case c.ClientSecret == "":
		return errors.New("clientSecret is required")
	}
	if c.MunchkinID != "" {
		if !munchkinRE.MatchString(c.MunchkinID) {
			return fmt.Errorf("munchkinId %q is not of the form 123-ABC-456", c.MunchkinID)
		}
		c.BaseURL = "https://" + strings.ToLower(c.MunchkinID) + ".mktorest.com"
	}
	base, err := hostURL("baseURL", c.BaseURL)
	if err != nil {
		return err
	}
	c.BaseURL = base
	if c.IdentityURL != "" {
		u, err := url.Parse(strings.TrimSpace(c.IdentityURL))
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" {
			return errors.New("identityURL must be an http(s) URL without credentials or query")
		}
		c.IdentityURL = strings.TrimRight(u.String(), "/")
	}
	return nil
}

// hostURL checks an http(s) URL and strips a trailing "/", "/rest" or
// (Admin > Web Services shows the endpoint with /rest).
func hostURL(field, raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" {
		return "", fmt.Errorf("%s must be an http(s) URL of the host without credentials or query", field)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/rest")
	u.Path = p
	return strings.TrimRight(u.String(), "/"), nil
}

// mktorestHost is the REST host Marketo gives an instance: its munchkin id
// under mktorest.com.
var mktorestHost = regexp.MustCompile(`(?i)^([a-z0-9]{3}-[a-z0-9]{3}-[a-z0-9]{3})\.mktorest\.com(:443)?$`)

// InstanceKey names the Marketo instance for the shared budget, the same
// for every way a secret may name it: the munchkin id in upper case, given
// as munchkinId or read from a baseURL on mktorest.com (any case, with or
// without /rest); otherwise (a simulator, a proxy) the REST host in lower
// case. So two connections to one instance always share one budget.
func (c MarketoCredentials) InstanceKey() string {
	if c.MunchkinID != "" {
		return strings.ToUpper(c.MunchkinID)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Host == "" {
		return c.BaseURL
	}
	if m := mktorestHost.FindStringSubmatch(u.Host); m != nil {
		return strings.ToUpper(m[1])
	}
	return strings.ToLower(u.Host)
}

const redacted = "[REDACTED]"

func (c MarketoCredentials) String() string {
	return fmt.Sprintf("MarketoCredentials{BaseURL:%s IdentityURL:%s ClientID:%s ClientSecret:%s}", c.BaseURL, c.IdentityURL, c.ClientID, redacted)
}

// GoString is used by %#v.
func (c MarketoCredentials) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %s, %q, %x...) print the redacted form.
func (c MarketoCredentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// MarshalJSON writes the redacted form, so credentials logged or stored by
// mistake never carry the secret.
func (c MarketoCredentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"baseURL": c.BaseURL, "identityURL": c.IdentityURL, "clientId": c.ClientID, "clientSecret": redacted})
}

// LogValue is the slog form.
func (c MarketoCredentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("baseURL", c.BaseURL), slog.String("clientId", c.ClientID), slog.String("clientSecret", redacted))
}

// CertainCredentials are the Basic-auth user of the Certain API.
type CertainCredentials struct {
	Username string
	Password string
}

type certainJSON struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (c CertainCredentials) String() string {
	return fmt.Sprintf("CertainCredentials{Username:%s Password:%s}", c.Username, redacted)
}

func (c CertainCredentials) GoString() string           { return c.String() }
func (c CertainCredentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }
func (c CertainCredentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("password", redacted))
}
func (c CertainCredentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"username": c.Username, "password": redacted})
}

// Static is a local secret source: secret id -> the secret's JSON, served
// through the same GetSecretValue call as Secrets Manager.
type Static map[string]string

// GetSecretValue implements GetSecretValueAPI.
func (s Static) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	id := aws.ToString(in.SecretId)
	v, ok := s[id]
	if !ok {
		return nil, fmt.Errorf("local secret %q: %w", id, ErrNotFound)
	}
	return &secretsmanager.GetSecretValueOutput{Name: aws.String(id), SecretString: aws.String(v)}, nil
}

// LoadFile reads a local secrets file: a JSON object mapping each secret id
// to its secret object, e.g.
//
//	{"certain-marketo/dev/marketo": {"munchkinId": "123-ABC-456", "clientId": "...", "clientSecret": "..."}}
func LoadFile(path string) (Static, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("secrets file %s: malformed JSON at byte %d", path, syn.Offset)
		}
		return nil, fmt.Errorf("secrets file %s: must be a JSON object of secret id -> secret object", path)
	}
	out := Static{}
	for id, v := range m {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '{' {
			return nil, fmt.Errorf("secrets file %s: %q must be a JSON object", path, id)
		}
		out[id] = string(v)
	}
	return out, nil
}
