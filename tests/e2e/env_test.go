package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/certain-marketo/certain-marketo/lib/testkit/rie"
)

// functionIDs maps the template's logical ids to the directories under functions/.
var functionIDs = map[string]string{
	"ImportLeadsFunction":         "import-leads",
	"TriggerCampaignFunction":     "trigger-campaign",
	"SyncLeadsFunction":           "sync-leads",
	"EngagementMetricsFunction":   "engagement-metrics",
	"InterestMetricsFunction":     "interest-metrics",
	"RegistrationChangesFunction": "registration-changes",
}

// fnTemplate is the part of template.yaml the emulator needs: the declared
// environment (Globals merged with the function's own) and the timeout.
type fnTemplate struct {
	Timeout   int
	Variables map[string]yaml.Node
}

type templateFile struct {
	Globals struct {
		Function struct {
			Timeout     int `yaml:"Timeout"`
			Environment struct {
				Variables map[string]yaml.Node `yaml:"Variables"`
			} `yaml:"Environment"`
		} `yaml:"Function"`
	} `yaml:"Globals"`
	Resources map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			Timeout     int `yaml:"Timeout"`
			Environment struct {
				Variables map[string]yaml.Node `yaml:"Variables"`
			} `yaml:"Environment"`
		} `yaml:"Properties"`
	} `yaml:"Resources"`
}

// readTemplate returns each function's declared environment and timeout, by
// directory name.
func readTemplate(t *testing.T) map[string]fnTemplate {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(rie.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tf templateFile
	if err := yaml.Unmarshal(raw, &tf); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	out := map[string]fnTemplate{}
	for id, dir := range functionIDs {
		r, ok := tf.Resources[id]
		if !ok || r.Type != "AWS::Serverless::Function" {
			t.Fatalf("template.yaml has no function %s", id)
		}
		f := fnTemplate{Timeout: tf.Globals.Function.Timeout, Variables: map[string]yaml.Node{}}
		if r.Properties.Timeout > 0 {
			f.Timeout = r.Properties.Timeout
		}
		for k, v := range tf.Globals.Function.Environment.Variables {
			f.Variables[k] = v
		}
		for k, v := range r.Properties.Environment.Variables {
			f.Variables[k] = v
		}
		if f.Timeout <= 0 {
			t.Fatalf("template.yaml: %s has no Timeout", id)
		}
		out[dir] = f
	}
	return out
}

// lambdaEnv is the environment a function gets under the emulator: exactly
// the variables the template declares for it, literal values as written and
// !Ref values resolved through refs (what CloudFormation would put there),
// plus what Lambda itself sets and what points the SDK at moto_server.
func lambdaEnv(t *testing.T, f fnTemplate, refs map[string]string, awsEndpoint string) []string {
	t.Helper()
	env := []string{
		"AWS_ENDPOINT_URL=" + awsEndpoint, "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=e2e", "AWS_SECRET_ACCESS_KEY=e2e", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(f.Timeout),
		"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=INFO",
	}
	var names []string
	for k := range f.Variables {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		n := f.Variables[k]
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!Ref":
			v, ok := refs[n.Value]
			if !ok {
				t.Fatalf("template.yaml: %s is !Ref %s, which this test does not resolve; add it to the refs", k, n.Value)
			}
			env = append(env, k+"="+v)
		case n.Kind == yaml.ScalarNode && (n.Tag == "" || n.Tag == "!!str" || n.Tag == "!!int"):
			env = append(env, k+"="+n.Value)
		default:
			t.Fatalf("template.yaml: %s has a value this test does not resolve (tag %s)", k, n.Tag)
		}
	}
	return env
}

// envValue returns the value of k in env.
func envValue(env []string, k string) string {
	for _, kv := range env {
		if len(kv) > len(k) && kv[:len(k)+1] == k+"=" {
			return kv[len(k)+1:]
		}
	}
	return ""
}
