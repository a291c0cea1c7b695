package template

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The SAM policy templates a function may use, and what each must point at.
var allowedPolicyTemplates = map[string]bool{
	"DynamoDBReadPolicy":                    true,
	"DynamoDBCrudPolicy":                    true,
	"SQSSendMessagePolicy":                  true,
	"SQSPollerPolicy":                       true,
	"SNSPublishMessagePolicy":               true,
	"AWSSecretsManagerGetSecretValuePolicy": true,
}

// secretPrefix is the only secret ARN a function may read: this stage's prefix.
const secretPrefix = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:certain-marketo/${Stage}/*"

// wildcardResource reports whether an IAM resource string grants more than this stack's
// own resources: "*", a wildcard in the partition/service/region/account fields, or a
// resource part with no fixed name before its first "*" (table/*, secret:*).
func wildcardResource(r string) bool {
	r = regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(r, "X") // ${AWS::Region} etc. are fixed at deploy
	if r == "*" || r == "" {
		return true
	}
	parts := strings.SplitN(r, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return strings.Contains(r, "*")
	}
	for _, f := range parts[1:5] {
		if strings.Contains(f, "*") {
			return true
		}
	}
	res := parts[5]
	star := strings.Index(res, "*")
	if star < 0 {
		return false
	}
	// Strip the resource type ("table/", "secret:") and require a name prefix before "*".
	name := res[:star]
	if i := strings.IndexAny(name, ":/"); i >= 0 {
		name = name[i+1:]
	}
	return strings.Trim(name, "/:-_") == ""
}

func wildcardAction(a string) bool {
	return a == "*" || strings.HasSuffix(a, ":*")
}

func TestWildcardDetector(t *testing.T) {
	tests := []struct {
		r    string
		want bool
	}{
		{"*", true},
		{"arn:aws:s3:::*", true},
		{"arn:aws:dynamodb:*:123456789012:table/Foo", true},
		{"arn:aws:dynamodb:us-east-1:123456789012:table/*", true},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:*", true},
		{"arn:aws:dynamodb:us-east-1:123456789012:table/Foo", false},
		{"arn:aws:dynamodb:us-east-1:123456789012:table/Foo/index/*", false},
		{secretPrefix, false},
		{"certain-*", true},
	}
	for _, tc := range tests {
		if got := wildcardResource(tc.r); got != tc.want {
			t.Errorf("wildcardResource(%q) = %v, want %v", tc.r, got, tc.want)
		}
	}
	if !wildcardAction("dynamodb:*") || !wildcardAction("*") || wildcardAction("dynamodb:GetItem") {
		t.Error("wildcardAction misclassifies")
	}
}

// resourceStrings returns the literal strings a policy Resource value can take, expanding
// Fn::Sub text and Fn::If branches; Ref/GetAtt of a stack resource are specific, so they
// yield nothing.
func resourceStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, resourceStrings(e)...)
		}
		return out
	case map[string]any:
		if s, ok := x["Fn::Sub"].(string); ok {
			return []string{s}
		}
		if s := asSlice(x["Fn::Sub"]); len(s) > 0 {
			return resourceStrings(s[0])
		}
		if br := asSlice(x["Fn::If"]); len(br) == 3 {
			return append(resourceStrings(br[1]), resourceStrings(br[2])...)
		}
	}
	return nil
}

func TestPoliciesAreScoped(t *testing.T) {
	tp := loadTemplate(t)
	resources := tp.resources()
	for id := range wantFunctions {
		props := asMap(tp.resource(t, id)["Properties"])
		if props["Role"] != nil {
			t.Errorf("%s sets Role; use per-function Policies so the grants are reviewable here", id)
		}
		var templates, polls, sends []string
		for _, p := range asSlice(props["Policies"]) {
			if name, ok := p.(string); ok {
				t.Errorf("%s attaches managed policy %q; grant only what it uses with a policy template", id, name)
				continue
			}
			for name, params := range asMap(p) {
				if name == "Statement" || name == "Version" {
					checkStatements(t, id, asMap(p))
					continue
				}
				templates = append(templates, name)
				if !allowedPolicyTemplates[name] {
					t.Errorf("%s uses policy template %s, which this product does not need", id, name)
					continue
				}
				for pk, pv := range asMap(params) {
					if q := asSlice(asMap(pv)["Fn::GetAtt"]); pk == "QueueName" && len(q) == 2 && q[1] == "QueueName" {
						if name == "SQSPollerPolicy" {
							polls = append(polls, fmt.Sprint(q[0]))
						} else {
							sends = append(sends, fmt.Sprint(q[0]))
						}
					}
					switch name {
					case "AWSSecretsManagerGetSecretValuePolicy":
						if got := resourceStrings(pv); len(got) != 1 || got[0] != secretPrefix {
							t.Errorf("%s %s %s = %v, want !Sub %s", id, name, pk, pv, secretPrefix)
						}
					default:
						if !refersToStackResource(pv, resources) {
							t.Errorf("%s %s %s = %v, want !Ref/!GetAtt of a resource of this stack", id, name, pk, pv)
						}
						if name == "SNSPublishMessagePolicy" && fmt.Sprint(asSlice(asMap(pv)["Fn::GetAtt"])) != "[AlertTopic TopicName]" {
							t.Errorf("%s %s %s = %v, want !GetAtt AlertTopic.TopicName (the operations topic only)", id, name, pk, pv)
						}
						if pk == "TableName" && strings.HasPrefix(name, "DynamoDB") && name != "DynamoDBReadPolicy" &&
							fmt.Sprint(asMap(pv)["Ref"]) == "ConfigTable" {
							t.Errorf("%s may write the config table (%s); only the operator command writes it", id, name)
						}
					}
				}
			}
		}
		sort.Strings(templates)
		// Each function receives from its own queue only, and sends only to
		// its own work queue (and the detector to the change queue).
		fn := wantFunctions[id]
		if fmt.Sprint(polls) != "["+fn.queue+"]" {
			t.Errorf("%s SQSPollerPolicy on %v, want exactly its own queue %s", id, polls, fn.queue)
		}
		var wantSends []string
		if len(fn.jobTypes) > 0 {
			wantSends = append(wantSends, fn.queue)
		}
		if id == "RegistrationChangesFunction" {
			wantSends = append(wantSends, "RegistrationChangeQueue")
		}
		sort.Strings(sends)
		sort.Strings(wantSends)
		if fmt.Sprint(sends) != fmt.Sprint(wantSends) {
			t.Errorf("%s SQSSendMessagePolicy on %v, want %v", id, sends, wantSends)
		}
		// Every function that runs jobs publishes the notices of its runs;
		// the detector makes no run records, so it publishes nothing.
		hasPublish := slices.Contains(templates, "SNSPublishMessagePolicy")
		if hasPublish != (id != "RegistrationChangesFunction") {
			t.Errorf("%s SNSPublishMessagePolicy = %v; every job function, and only those, publishes run notices", id, hasPublish)
		}
		want := []string{"AWSSecretsManagerGetSecretValuePolicy", "DynamoDBCrudPolicy", "DynamoDBReadPolicy"}
		if hasPublish {
			want = append(want, "SNSPublishMessagePolicy")
		}
		want = append(want, "SQSPollerPolicy")
		for range wantSends {
			want = append(want, "SQSSendMessagePolicy")
		}
		if fmt.Sprint(templates) != fmt.Sprint(want) {
			t.Errorf("%s policy templates = %v, want %v", id, templates, want)
		}
	}
	for id, r := range resources {
		rm := asMap(r)
		switch rm["Type"] {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			checkStatements(t, id, asMap(asMap(rm["Properties"])["PolicyDocument"]))
		case "AWS::IAM::Role":
			for _, p := range asSlice(asMap(rm["Properties"])["Policies"]) {
				checkStatements(t, id, asMap(asMap(p)["PolicyDocument"]))
			}
		}
	}
}

func checkStatements(t *testing.T, owner string, doc map[string]any) {
	t.Helper()
	for _, p := range statementProblems(doc) {
		t.Errorf("%s: %s", owner, p)
	}
}

// statementProblems lists the wildcard grants in a policy document.
func statementProblems(doc map[string]any) []string {
	stmts := asSlice(doc["Statement"])
	if m := asMap(doc["Statement"]); m != nil {
		stmts = []any{m}
	}
	var out []string
	for i, s := range stmts {
		sm := asMap(s)
		if sm["NotResource"] != nil || sm["NotAction"] != nil {
			out = append(out, fmt.Sprintf("statement %d uses NotResource/NotAction", i))
		}
		for _, a := range resourceStrings(sm["Action"]) {
			if wildcardAction(a) {
				out = append(out, fmt.Sprintf("statement %d has wildcard action %q", i, a))
			}
		}
		for _, r := range resourceStrings(sm["Resource"]) {
			if wildcardResource(r) {
				out = append(out, fmt.Sprintf("statement %d has wildcard resource %q", i, r))
			}
		}
	}
	return out
}

func refersToStackResource(v any, resources map[string]any) bool {
	m := asMap(v)
	if ref, ok := m["Ref"].(string); ok {
		_, ok := resources[ref]
		return ok
	}
	if ga := asSlice(m["Fn::GetAtt"]); len(ga) == 2 {
		_, ok := resources[fmt.Sprint(ga[0])]
		return ok
	}
	return false
}

func TestStatementProblems(t *testing.T) {
	doc := map[string]any{"Statement": []any{
		map[string]any{"Effect": "Allow", "Action": []any{"dynamodb:*"}, "Resource": "*"},
		map[string]any{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": map[string]any{"Fn::Sub": "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:q"}},
		map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/k"},
	}}
	got := statementProblems(doc)
	want := []string{
		`statement 0 has wildcard action "dynamodb:*"`,
		`statement 0 has wildcard resource "*"`,
		"statement 2 uses NotResource/NotAction",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
}

// Secrets reach the functions only as ARNs in connection records, never in the environment.
func TestSecretsNeverInEnvironment(t *testing.T) {
	tp := loadTemplate(t)
	secretIDs := map[string]bool{}
	for id, r := range tp.resources() {
		if asMap(r)["Type"] == "AWS::SecretsManager::Secret" {
			secretIDs[id] = true
		}
	}
	nameRe := regexp.MustCompile(`(?i)secret|password|passwd|token|api_?key|credential|client_?id`)
	for id := range wantFunctions {
		for k, v := range tp.envVars(id) {
			if nameRe.MatchString(k) {
				t.Errorf("%s environment variable %s looks like a credential", id, k)
			}
			s := fmt.Sprint(v)
			if strings.Contains(s, "resolve:secretsmanager") || strings.Contains(s, "secretsmanager") {
				t.Errorf("%s environment %s = %v references Secrets Manager", id, k, v)
			}
			if ref, ok := asMap(v)["Ref"].(string); ok && secretIDs[ref] {
				t.Errorf("%s environment %s refers to secret %s", id, k, ref)
			}
		}
	}
}
