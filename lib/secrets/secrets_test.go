package secrets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/certain-marketo/certain-marketo/lib/secrets"
	"github.com/certain-marketo/certain-marketo/lib/testkit/awstest"
)

const secret = "s3cr3t-VALUE"

type countingAPI struct {
	mu    sync.Mutex
	calls int
	src   secrets.Static
}

func (c *countingAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.src.GetSecretValue(ctx, in, o...)
}

func TestMarketoShapesAndCache(t *testing.T) {
	api := &countingAPI{src: secrets.Static{
		"m1": `{"munchkinId":"123-ABC-456","clientId":"cid","clientSecret":"` + secret + `"}`,
		"m2": `{"baseURL":"https://123-abc-456.mktorest.com/rest/","identityURL":"https://123-abc-456.mktorest.com/identity","clientId":"cid","clientSecret":"x"}`,
	}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := secrets.New(api, time.Minute, func() time.Time { return now })
	ctx := context.Background()
	c, err := m.Marketo(ctx, "m1")
	if err != nil || c.BaseURL != "https://123-abc-456.mktorest.com" || c.IdentityURL != "" || c.ClientSecret != secret || c.InstanceKey() != "123-ABC-456" {
		t.Fatalf("Marketo(m1) = %+v (%s), %v", c, c.InstanceKey(), err)
	}
	c2, err := m.Marketo(ctx, "m2")
	if err != nil || c2.BaseURL != "https://123-abc-456.mktorest.com" || c2.IdentityURL != "https://123-abc-456.mktorest.com/identity" || c2.InstanceKey() != "123-ABC-456" {
		t.Fatalf("Marketo(m2) = %+v, %v", c2, err)
	}
	for range 5 {
		if _, err := m.Marketo(ctx, "m1"); err != nil {
			t.Fatal(err)
		}
	}
	if api.calls != 2 {
		t.Fatalf("%d GetSecretValue calls within the TTL, want 2", api.calls)
	}
	now = now.Add(61 * time.Second)
	m.Marketo(ctx, "m1")
	if api.calls != 3 {
		t.Fatalf("after the TTL: %d calls, want 3", api.calls)
	}
	m.Invalidate("m1")
	m.Marketo(ctx, "m1")
	if api.calls != 4 {
		t.Fatalf("after Invalidate: %d calls, want 4", api.calls)
	}
}

func TestInvalidSecretsNeverEchoValues(t *testing.T) {
	src := secrets.Static{
		"syntax":  `{"clientSecret":"` + secret + `" "x"}`,
		"both":    `{"baseURL":"https://a.mktorest.com","munchkinId":"123-ABC-456","clientId":"c","clientSecret":"` + secret + `"}`,
		"noid":    `{"munchkinId":"123-ABC-456","clientSecret":"` + secret + `"}`,
		"typo":    `{"munchkinId":"123-ABC-456","clientId":"c","clientSecrett":"` + secret + `"}`,
		"type":    `{"munchkinId":"123-ABC-456","clientId":"c","clientSecret":12345}`,
		"badurl":  `{"baseURL":"ftp://` + secret + `@x","clientId":"c","clientSecret":"` + secret + `"}`,
		"certain": `{"username":"u"}`,
	}
	m := secrets.New(src, 0, nil)
	want := map[string]string{
		"syntax":  "malformed JSON at byte",
		"both":    "give baseURL or munchkinId, not both",
		"noid":    "clientId is required",
		"typo":    `unknown key "clientSecrett"`,
		"type":    `key "clientSecret" must be a string`,
		"badurl":  "baseURL must be an http(s) URL",
		"missing": "secret not found",
	}
	for id, w := range want {
		_, err := m.Marketo(context.Background(), id)
		if err == nil || !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "12345") {
			t.Errorf("Marketo(%q) = %v; want %q and no secret", id, err, w)
		}
	}
	if _, err := m.Certain(context.Background(), "missing"); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := m.Certain(context.Background(), "certain"); err == nil || !strings.Contains(err.Error(), "password is required") {
		t.Errorf("Certain without password: %v", err)
	}
}

func TestCredentialsRedacted(t *testing.T) {
	mc := secrets.MarketoCredentials{BaseURL: "https://x.mktorest.com", ClientID: "cid", ClientSecret: secret}
	cc := secrets.CertainCredentials{Username: "api-user", Password: secret}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("creds", "marketo", mc, "certain", cc)
	log.Info("ptr", "marketo", &mc)
	for _, v := range []any{mc, cc, &mc, &cc} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
				t.Errorf("%s leaked: %s", verb, out)
			}
		}
		b, err := json.Marshal(v)
		if err != nil || strings.Contains(string(b), secret) {
			t.Errorf("json leaked: %s %v", b, err)
		}
	}
	if strings.Contains(buf.String(), secret) || !strings.Contains(buf.String(), "api-user") || !strings.Contains(buf.String(), "[REDACTED]") {
		t.Errorf("slog output: %s", buf.String())
	}
	if !strings.Contains(fmt.Sprint(mc), "cid") {
		t.Errorf("redacted form lost the client id: %v", mc)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secrets.json")
	os.WriteFile(p, []byte(`{"c": {"username":"u","password":"`+secret+`"}, "m": {"munchkinId":"123-ABC-456","clientId":"c","clientSecret":"x"}}`), 0o600)
	src, err := secrets.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := secrets.New(src, 0, nil)
	c, err := m.Certain(context.Background(), "c")
	if err != nil || c.Username != "u" || c.Password != secret {
		t.Fatalf("Certain = %v, %v", c, err)
	}
	os.WriteFile(p, []byte(`{"c": "`+secret+`"}`), 0o600)
	if _, err := secrets.LoadFile(p); err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), `"c" must be a JSON object`) {
		t.Fatalf("LoadFile(bad) = %v", err)
	}
}

func TestSecretsManagerOnMoto(t *testing.T) {
	moto := awstest.StartMoto(t)
	sm := secretsmanager.NewFromConfig(moto.Config(t))
	ctx := context.Background()
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("certain-marketo/dev/certain"),
		SecretString: aws.String(`{"username":"u","password":"` + secret + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	m := secrets.New(sm, time.Minute, nil)
	for _, id := range []string{"certain-marketo/dev/certain", aws.ToString(out.ARN)} {
		c, err := m.Certain(ctx, id)
		if err != nil || c.Password != secret {
			t.Fatalf("Certain(%q) = %v, %v", id, c, err)
		}
	}
	_, err = m.Certain(ctx, "certain-marketo/dev/nope")
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("missing secret on moto: %v", err)
	}
}

// One Marketo instance has one budget key, however its secret names it: a
// munchkin id in any case, or a REST base URL on mktorest.com (with /rest,
// any case); another host keys by its lower-case host.
func TestInstanceKeyIsOnePerInstance(t *testing.T) {
	same := []secrets.MarketoCredentials{
		{MunchkinID: "123-ABC-456"},
		{MunchkinID: "123-abc-456"},
		{BaseURL: "https://123-abc-456.mktorest.com"},
		{BaseURL: "https://123-ABC-456.MKTOREST.COM"},
		{BaseURL: "https://123-abc-456.mktorest.com:443"},
	}
	for _, c := range same {
		if got := c.InstanceKey(); got != "123-ABC-456" {
			t.Errorf("%+v: InstanceKey %q, want 123-ABC-456", c, got)
		}
	}
	api := secrets.Static{
		"a":   `{"munchkinId":"123-abc-456","clientId":"c","clientSecret":"s"}`,
		"b":   `{"baseURL":"https://123-ABC-456.mktorest.com/rest","clientId":"c","clientSecret":"s"}`,
		"sim": `{"baseURL":"http://127.0.0.1:8089","clientId":"c","clientSecret":"s"}`,
	}
	m := secrets.New(api, time.Minute, nil)
	ctx := context.Background()
	a, errA := m.Marketo(ctx, "a")
	b, errB := m.Marketo(ctx, "b")
	sim, errS := m.Marketo(ctx, "sim")
	if errA != nil || errB != nil || errS != nil {
		t.Fatal(errA, errB, errS)
	}
	if a.InstanceKey() != b.InstanceKey() {
		t.Errorf("munchkin secret keys %q, baseURL secret %q: one instance, two budgets", a.InstanceKey(), b.InstanceKey())
	}
	if got := sim.InstanceKey(); got != "127.0.0.1:8089" {
		t.Errorf("simulator key %q", got)
	}
}
