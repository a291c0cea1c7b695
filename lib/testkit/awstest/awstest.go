// Package awstest runs tests against a real local AWS emulator: moto_server
// started on a free loopback port, reached by the production SDK clients
// through AWS_ENDPOINT_URL (docs/architecture.md §11), so production code has no
// test branch. One server per test package is enough; tests isolate
// themselves with fresh table names or Reset.
package awstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/certain-marketo/certain-marketo/lib/store/dynamostore"
	"github.com/certain-marketo/certain-marketo/lib/testkit/external"
)

// Moto is a running moto_server.
type Moto struct {
	Endpoint string // http://127.0.0.1:<port>
	cmd      *exec.Cmd
	done     chan struct{}
	stderr   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartMoto starts moto_server on a free loopback port, waits until it
// answers and stops it when the test ends. It fails the test when
// moto_server is not installed or does not start.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	bin := external.Moto(t)
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		m, err := start(bin)
		if err == nil {
			t.Cleanup(m.stop)
			return m
		}
		lastErr = err
	}
	t.Fatalf("awstest: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string) (*Moto, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	m := &Moto{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}), stderr: &lockedBuffer{}}
	m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	m.cmd.Stdout = m.stderr
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-m.done:
			return nil, fmt.Errorf("moto_server exited while starting: %s", m.stderr.String())
		default:
		}
		resp, err := client.Get(m.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return m, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.stop()
	return nil, fmt.Errorf("moto_server did not answer on %s within 20s: %s", m.Endpoint, m.stderr.String())
}

func (m *Moto) stop() {
	if m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

// Reset drops all state in the server (POST /moto-api/reset).
func (m *Moto) Reset(t testing.TB) {
	t.Helper()
	resp, err := http.Post(m.Endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("awstest: reset moto: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("awstest: reset moto: HTTP %d", resp.StatusCode)
	}
}

// Setenv points every AWS SDK client at the server for the rest of the
// test: AWS_ENDPOINT_URL, AWS_REGION=us-east-1, dummy credentials and no
// instance metadata lookups. Like t.Setenv, not for parallel tests.
func (m *Moto) Setenv(t testing.TB) {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL", m.Endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_DEFAULT_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "testing")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

// Config calls Setenv and loads the SDK configuration the way main does.
func (m *Moto) Config(t testing.TB) aws.Config {
	t.Helper()
	m.Setenv(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("awstest: load AWS config: %v", err)
	}
	return cfg
}

// CreateTables creates the config and state tables with the key schema of
// dynamostore.TableDefs and enables TTL where it declares one.
func CreateTables(ctx context.Context, cfg aws.Config, names dynamostore.TableNames) error {
	db := dynamodb.NewFromConfig(cfg)
	for _, d := range dynamostore.TableDefs() {
		name := names.Name(d)
		if name == "" {
			return fmt.Errorf("awstest: no table name for %s", d.LogicalID)
		}
		if _, err := db.CreateTable(ctx, d.CreateTableInput(name)); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) {
				return fmt.Errorf("awstest: create table %s: %w", name, err)
			}
		}
		if d.TTL != "" {
			if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(name),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(d.TTL), Enabled: aws.Bool(true)}}); err != nil {
				return fmt.Errorf("awstest: enable TTL on %s: %w", name, err)
			}
		}
	}
	return nil
}
