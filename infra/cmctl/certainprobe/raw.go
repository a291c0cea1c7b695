package certainprobe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// rawClient makes the probe's own requests: the ones a job never makes
// (start_index 0, 1, 2; a page of 1000; both spellings of a parameter),
// where the raw answer is what is being checked.
type rawClient struct {
	hc         *http.Client
	base       string
	user, pass string
	conn       config.Connection
}

// answer is one raw response.
type answer struct {
	status int
	header http.Header
	body   []byte
	env    map[string]any // the JSON object, nil when the body is not one
}

// v1 is the path of a v1 resource.
func (c *rawClient) v1(parts ...string) string {
	base := c.conn.APIBasePath
	if base == "" {
		base = certain.DefaultAPIBasePath
	}
	return strings.TrimRight(base, "/") + "/" + escape(parts)
}

// v2 is the path of a Standard 2.0 resource.
func (c *rawClient) v2(parts ...string) string {
	base := c.conn.StandardBasePath
	if base == "" {
		base = certain.DefaultStandardBasePath
	}
	return strings.TrimRight(base, "/") + "/" + escape(parts)
}

func escape(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = url.PathEscape(p)
	}
	return strings.Join(out, "/")
}

// get performs one GET and decodes a JSON object body.
func (c *rawClient) get(ctx context.Context, path string, q url.Values) (answer, error) {
	target := strings.TrimRight(c.base, "/") + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return answer{}, fmt.Errorf("build request: %w", err)
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: read body: %w", path, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: body}
	_ = json.Unmarshal(body, &a.env)
	return a, nil
}

// page asks for one page of a collection.
func (c *rawClient) page(ctx context.Context, path string, extra url.Values, start, size int) (answer, error) {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	q.Set("start_index", fmt.Sprint(start))
	q.Set("max_results", fmt.Sprint(size))
	return c.get(ctx, path, q)
}

// rows returns the objects of the envelope's array: the only list-valued
// key (Certain names it after the resource).
func (a answer) rows() []map[string]any {
	for _, v := range a.env {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		out := make([]map[string]any, 0, len(list))
		for _, x := range list {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// envInt reads an integer envelope field; ok false when absent or null.
func (a answer) envInt(key string) (int, bool) {
	v, ok := a.env[key]
	f, isNum := v.(float64)
	if !ok || !isNum {
		return 0, false
	}
	return int(f), true
}

// str reads a field path of a row as a string.
func str(m map[string]any, path string) string {
	v, ok := certain.LookupPath(m, path)
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64, bool:
		return fmt.Sprint(x)
	}
	return ""
}

// message is a short text of an error answer.
func (a answer) message() string {
	return fmt.Sprintf("HTTP %d: %s", a.status, certain.ErrorMessage(a.body))
}
