package marketotest

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

var (
	reLead     = regexp.MustCompile(`^/rest/v1/lead/(\d+)\.json$`)
	reList     = regexp.MustCompile(`^/rest/v1/lists/(\d+)\.json$`)
	reListLead = regexp.MustCompile(`^/rest/v1/lists?/(\d+)/leads\.json$`)
	reTrigger  = regexp.MustCompile(`^/rest/v1/campaigns/(\d+)/trigger\.json$`)
	reCODesc   = regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)/describe\.json$`)
	reCODelete = regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)/delete\.json$`)
	reCO       = regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)\.json$`)
)

// route dispatches a REST call to its handler by path and effective method.
func (s *Server) route(ctx context.Context, r *request) answer {
	p := r.path
	want := func(m string) bool { return r.method == m }
	var m []string
	switch {
	case p == "/rest/v1/leads.json" && want(http.MethodGet):
		return s.getLeadsByFilter(r)
	case p == "/rest/v1/leads.json" && want(http.MethodPost):
		return s.syncLeads(ctx, r)
	case p == "/rest/v1/leads.json":
		return fail("605", "Request method '%s' not supported", r.method)
	case p == "/rest/v1/leads/describe.json" || p == "/rest/v1/leads/describe2.json":
		if !want(http.MethodGet) {
			return fail("605", "Request method '%s' not supported", r.method)
		}
		return s.describeLeads()
	}
	if m = reLead.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.getLead(atoi(m[1]), r)
	}
	if m = reList.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.getList(atoi(m[1]))
	}
	if m = reListLead.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.listLeads(atoi(m[1]), r)
	}
	if m = reTrigger.FindStringSubmatch(p); m != nil {
		if !want(http.MethodPost) {
			return fail("605", "Request method '%s' not supported", r.method)
		}
		return s.requestCampaign(atoi(m[1]), r)
	}
	if m = reCODesc.FindStringSubmatch(p); m != nil && want(http.MethodGet) {
		return s.describeCO(m[1])
	}
	if m = reCODelete.FindStringSubmatch(p); m != nil && want(http.MethodPost) {
		return s.deleteCO(m[1], r)
	}
	if m = reCO.FindStringSubmatch(p); m != nil {
		if want(http.MethodPost) {
			return s.syncCO(m[1], r)
		}
		return s.queryCO(m[1], r)
	}
	return fail("610", "Requested resource not found")
}

// atoi reads an id the path patterns matched as digits.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// answer is a handler's reply, sent in an HTTP 200 envelope: a result (and
// the token of the next page), or a Marketo error code.
type answer struct {
	result   any
	next     string
	code     string
	msg      string
	warnings []marketo.Reason
}

// fail answers success:false with code.
func fail(code, format string, args ...any) answer {
	return answer{code: code, msg: fmt.Sprintf(format, args...)}
}

// ok answers success:true with result.
func ok(result any) answer { return answer{result: result} }
