package marketo

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// filterQuery is a filter read: the values of filterType to match, 300 per
// call, each chunk sent as POST ?_method=GET and followed page by page.
type filterQuery struct {
	path       string // escaped path below the base
	tmpl       string // stats template
	filterType string
	values     []string
	fields     []string // none: Marketo's default fields
}

// filterPages runs q and returns every row that decode reads from the pages.
func filterPages[T any](ctx context.Context, c *Client, q filterQuery, decode func(env *envelope, tmpl string) ([]T, error)) ([]T, error) {
	var out []T
	for _, chunk := range chunks(q.values, MaxBatch) {
		params := url.Values{"filterType": {q.filterType}, "filterValues": {strings.Join(chunk, ",")}, "batchSize": {strconv.Itoa(MaxBatch)}}
		if len(q.fields) > 0 {
			params.Set("fields", strings.Join(q.fields, ","))
		}
		for page := 1; ; page++ {
			k := &call{method: http.MethodGet, path: q.path, tmpl: q.tmpl, query: params, formGET: true}
			env, err := c.do(ctx, k)
			if err != nil {
				return nil, err
			}
			rows, err := decode(env, k.tmpl)
			if err != nil {
				return nil, err
			}
			out = append(out, rows...)
			more, err := nextPage(k.tmpl, params, env.NextPageToken, len(rows), page)
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
		}
	}
	return out, nil
}

// maxFilterPages bounds the pages of one filter query: Marketo refuses more
// than 1,000 matches (1003), which is 4 pages of 300, so more than this is a
// server that keeps answering with a token.
const maxFilterPages = 20

// nextPage moves q to the next page of a filter query and says whether there
// is one. A token that repeats, or more pages than a filter can have, is an
// error rather than a loop that only the deadline would end.
func nextPage(tmpl string, q url.Values, token string, rows, pages int) (bool, error) {
	if token == "" || rows == 0 {
		return false, nil
	}
	if token == q.Get("nextPageToken") {
		return false, fmt.Errorf("marketo: %s: the answer repeated the nextPageToken it was sent; paging stopped", tmpl)
	}
	if pages >= maxFilterPages {
		return false, fmt.Errorf("marketo: %s: more than %d pages for one filter query; paging stopped", tmpl, maxFilterPages)
	}
	q.Set("nextPageToken", token)
	return true, nil
}
