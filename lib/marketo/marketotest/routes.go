package marketotest

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// handler answers a call; m holds the path pattern's submatches.
type handler func(s *Server, ctx context.Context, r *request, m []string) answer

// route is one path of the REST API and its handler per effective method.
type route struct {
	path    *regexp.Regexp
	methods map[string]handler
}

// routes are the endpoints the simulator serves. A path matched with a
// method it does not serve answers 605; an unknown path 610.
var routes = []route{
	{regexp.MustCompile(`^/rest/v1/leads\.json$`), map[string]handler{
		http.MethodGet:    func(s *Server, _ context.Context, r *request, _ []string) answer { return s.getLeadsByFilter(r) },
		http.MethodPost:   func(s *Server, ctx context.Context, r *request, _ []string) answer { return s.syncLeads(ctx, r) },
		http.MethodDelete: func(s *Server, _ context.Context, r *request, _ []string) answer { return s.deleteLeads(r) },
	}},
	{regexp.MustCompile(`^/rest/v1/leads/delete\.json$`), map[string]handler{
		http.MethodPost: func(s *Server, _ context.Context, r *request, _ []string) answer { return s.deleteLeads(r) },
	}},
	{regexp.MustCompile(`^/rest/v1/leads/describe\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, _ *request, _ []string) answer { return s.describeLeads() },
	}},
	{regexp.MustCompile(`^/rest/v1/leads/describe2\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, _ *request, _ []string) answer { return s.describeLeads2() },
	}},
	{regexp.MustCompile(`^/rest/v1/lead/(\d+)\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, r *request, m []string) answer { return s.getLead(atoi(m[1]), r) },
	}},
	{regexp.MustCompile(`^/rest/v1/lists\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, r *request, _ []string) answer { return s.getLists(r) },
	}},
	{regexp.MustCompile(`^/rest/v1/lists/(\d+)\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, _ *request, m []string) answer { return s.getList(atoi(m[1])) },
	}},
	{regexp.MustCompile(`^/rest/v1/lists?/(\d+)/leads\.json$`), map[string]handler{
		http.MethodGet:  func(s *Server, _ context.Context, r *request, m []string) answer { return s.listLeads(atoi(m[1]), r) },
		http.MethodPost: func(s *Server, _ context.Context, r *request, m []string) answer { return s.addToList(atoi(m[1]), r) },
		http.MethodDelete: func(s *Server, _ context.Context, r *request, m []string) answer {
			return s.removeFromList(atoi(m[1]), r)
		},
	}},
	{regexp.MustCompile(`^/rest/v1/lists?/(\d+)/leads/ismember\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, r *request, m []string) answer { return s.isMember(atoi(m[1]), r) },
	}},
	{regexp.MustCompile(`^/rest/v1/campaigns\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, r *request, _ []string) answer { return s.getCampaigns(r) },
	}},
	{regexp.MustCompile(`^/rest/v1/campaigns/(\d+)/trigger\.json$`), map[string]handler{
		http.MethodPost: func(s *Server, _ context.Context, r *request, m []string) answer {
			return s.requestCampaign(atoi(m[1]), r)
		},
	}},
	{regexp.MustCompile(`^/rest/v1/customobjects\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, r *request, _ []string) answer { return s.listCOTypes(r) },
	}},
	{regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)/describe\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, _ *request, m []string) answer { return s.describeCO(m[1]) },
	}},
	{regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)/delete\.json$`), map[string]handler{
		http.MethodPost: func(s *Server, _ context.Context, r *request, m []string) answer { return s.deleteCO(m[1], r) },
	}},
	{regexp.MustCompile(`^/rest/v1/customobjects/([A-Za-z0-9_]+)\.json$`), map[string]handler{
		http.MethodGet:  func(s *Server, _ context.Context, r *request, m []string) answer { return s.queryCO(m[1], r) },
		http.MethodPost: func(s *Server, _ context.Context, r *request, m []string) answer { return s.syncCO(m[1], r) },
	}},
	{regexp.MustCompile(`^/rest/v1/stats/usage\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, _ *request, _ []string) answer { return s.usageToday() },
	}},
	{regexp.MustCompile(`^/rest/v1/stats/usage/last7days\.json$`), map[string]handler{
		http.MethodGet: func(s *Server, _ context.Context, _ *request, _ []string) answer { return s.usageLast7() },
	}},
}

// route dispatches a REST call to its handler by path and effective method.
func (s *Server) route(ctx context.Context, r *request) answer {
	for _, rt := range routes {
		m := rt.path.FindStringSubmatch(r.path)
		if m == nil {
			continue
		}
		if h := rt.methods[r.method]; h != nil {
			return h(s, ctx, r, m)
		}
		return fail("605", "Request method '%s' not supported", r.method)
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
