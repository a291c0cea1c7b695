package certaintest

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// sortEntry is a cached selection: its rows and the write generation they
// were read at.
type sortEntry struct {
	gen  int
	recs []*rec
}

// reserved are the query parameters that are not field filters.
var reserved = map[string]bool{
	"start_index": true, "max_results": true, "orderBy": true, "order_by": true, "includeList": true, "include_list": true,
	"dateModified_after": true, "dateModified_before": true, "dateCreated_after": true, "dateCreated_before": true,
}

// view is a collection to serve: its records and how to read and render them.
type view struct {
	key      string
	cacheKey string // non-empty: sorted orders are cached until the next write
	recs     []*rec // read only; collection never writes to it
	// index, when set, returns the records a scalar filter field=value can
	// match, in insertion order (a superset of the matches; ok false: field
	// not indexed).
	index  func(field, value string) (hits []*rec, ok bool)
	get    getter                    // nil: recGet
	render func(*rec) map[string]any // nil: render
}

// recGet reads a field the way a query sees it: the timestamps in wire
// format, other fields through lookup.
func recGet(r *rec, name string) (string, bool) {
	switch name {
	case "dateModified":
		return r.modified.Format(wire), true
	case "dateCreated":
		return r.created.Format(wire), true
	}
	return lookup(r.f, name)
}

// recTime is the record's dateCreated, or for any other field its
// dateModified.
func recTime(r *rec, field string) time.Time {
	if field == "dateCreated" {
		return r.created
	}
	return r.modified
}

// collection filters, sorts and pages records into the envelope. Only the
// returned page is rendered, and a cacheable view keeps its filtered, sorted
// rows until the next write, so reading a large event page by page costs
// one filter and sort, not one per page.
func (s *Server) collection(q map[string][]string, v view) (map[string]any, *httpErr) {
	rend := v.render
	if rend == nil {
		rend = render
	}
	recs, herr := s.selection(q, v)
	if herr != nil {
		return nil, herr
	}
	w, herr := s.pageWindow(q, len(recs))
	if herr != nil {
		return nil, herr
	}
	if w.offset >= len(recs) {
		return nil, notFound("no %s found", v.key)
	}
	end := min(w.offset+w.size, len(recs))
	page := make([]map[string]any, 0, end-w.offset)
	for _, r := range recs[w.offset:end] {
		page = append(page, rend(r))
	}
	// The envelope of recorded traffic (docs/certain.md §4).
	return map[string]any{"etag": fmt.Sprintf("%d-null", s.gen), "transactionId": nil,
		"completeCollectionSize": len(recs), "size": len(page), "startingIndex": w.echo, "maxResults": w.size, v.key: page}, nil
}

// selection returns the rows q selects from v: from the cache when it holds
// them (cacheable views only), else selected now and cached.
func (s *Server) selection(q map[string][]string, v view) ([]*rec, *httpErr) {
	if s.sortGen != s.gen {
		clear(s.sorted)
		s.sortGen = s.gen
	}
	var key string
	if v.cacheKey != "" {
		key = v.cacheKey + "\x01" + selectionKey(q)
	}
	if e, ok := s.sorted[key]; ok && key != "" {
		return e.recs, nil
	}
	recs, herr := s.selectRecs(q, v)
	if herr != nil {
		return nil, herr
	}
	if key != "" {
		s.sorted[key] = sortEntry{gen: s.gen, recs: recs}
	}
	return recs, nil
}

// window is the page a query asks for: its size (max_results after the
// cap), its record offset, and the startingIndex the envelope echoes.
type window struct{ size, offset, echo int }

// pageWindow reads the page size (max_results, default 200, capped by
// WithPageSizeCap) and the record offset start_index means in the paging
// mode. A 1-based mode refuses start_index 0 unless the server is lenient,
// which answers it as its first page. Mode none ignores both parameters.
func (s *Server) pageWindow(q map[string][]string, rows int) (window, *httpErr) {
	if s.paging == certain.PagingNone {
		return window{size: max(rows, 1), echo: 0}, nil
	}
	w := window{size: 200}
	if val := first(q["max_results"]); val != "" {
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return w, badRequest("max_results=%q must be a positive integer", val)
		}
		w.size = n
	}
	if s.pageCap > 0 && w.size > s.pageCap {
		w.size = s.pageCap
	}
	base := 1
	if s.paging == certain.PagingOffset0 {
		base = 0
	}
	n := base
	if val := first(q["start_index"]); val != "" {
		var err error
		if n, err = strconv.Atoi(val); err != nil {
			return w, badRequest("start_index=%q must be an integer", val)
		}
	}
	if n == 0 && base == 1 && s.lenient {
		n = 1
	}
	if n < base {
		return w, badRequest("start_index=%d is out of range: the first index is %d", n, base)
	}
	w.echo = n
	switch s.paging {
	case certain.PagingOffset1:
		w.offset = n - 1
	case certain.PagingPage1:
		w.offset = (n - 1) * w.size
	default:
		w.offset = n
	}
	return w, nil
}

// selectionKey is the query without its paging parameters: the same key
// selects the same rows until the next write.
func selectionKey(q map[string][]string) string {
	sel := make(url.Values, len(q))
	for k, vs := range q {
		if k != "start_index" && k != "max_results" {
			sel[k] = vs
		}
	}
	return sel.Encode()
}

// getter reads a record's field as a query compares it.
type getter func(r *rec, name string) (string, bool)

// scalarFilter is a field=value query parameter.
type scalarFilter struct{ k, want string }

// bound is a strict time filter: dateModified_after and friends.
type bound struct {
	field string
	after bool
	t     time.Time
}

// selectRecs returns the view's records that pass the query's filters, in
// the query's order. The result may alias the sort cache: callers only read it.
func (s *Server) selectRecs(q map[string][]string, v view) ([]*rec, *httpErr) {
	get := v.get
	if get == nil {
		get = recGet
	}
	scalars := scalarFilters(q)
	recs := v.recs
	if hits, narrowed := v.narrow(scalars); narrowed {
		recs = hits
		v.cacheKey = "" // the cache holds whole collections only
	}
	recs, herr := s.order(q, v, recs, get)
	if herr != nil {
		return nil, herr
	}
	bounds, herr := timeBounds(q)
	if herr != nil {
		return nil, herr
	}
	if len(scalars) > 0 || len(bounds) > 0 {
		recs = keep(recs, get, scalars, bounds)
	}
	return recs, nil
}

// scalarFilters are the query parameters that are neither paging, ordering,
// includes nor time bounds.
func scalarFilters(q map[string][]string) []scalarFilter {
	var scalars []scalarFilter
	for k, vs := range q {
		if !reserved[k] && len(vs) > 0 {
			scalars = append(scalars, scalarFilter{k, vs[0]})
		}
	}
	return scalars
}

// narrow returns the smallest index bucket a scalar filter selects; ok is
// false when no filter field is indexed. The hits keep insertion order, so
// the stable sort orders them exactly as it would have ordered them within
// the whole collection, and keep still checks every scalar on them.
func (v view) narrow(scalars []scalarFilter) (hits []*rec, ok bool) {
	if v.index == nil {
		return nil, false
	}
	for _, sc := range scalars {
		if h, indexed := v.index(sc.k, sc.want); indexed && (!ok || len(h) < len(hits)) {
			hits, ok = h, true
		}
	}
	return hits, ok
}

// order sorts recs by orderBy={field}_{asc|desc} (stable: ties keep
// insertion order); without orderBy it returns them as they are. A
// cacheable view keeps its sorted collection until the next write.
func (s *Server) order(q map[string][]string, v view, recs []*rec, get getter) ([]*rec, *httpErr) {
	var ob string
	for _, k := range []string{"orderBy", "order_by"} {
		if ob == "" && (s.orderParam == "" || s.orderParam == k) {
			ob = first(q[k])
		}
	}
	if ob == "" {
		return recs, nil
	}
	i := strings.LastIndexByte(ob, '_')
	if i <= 0 || (ob[i+1:] != "asc" && ob[i+1:] != "desc") {
		return nil, badRequest("orderBy=%q must be {field}_asc or {field}_desc", ob)
	}
	ck := v.cacheKey + "\x00" + ob
	if e, ok := s.sorted[ck]; ok && v.cacheKey != "" && e.gen == s.gen {
		return e.recs, nil
	}
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, compareBy(ob[:i], ob[i+1:] == "desc", get))
	if v.cacheKey != "" {
		s.sorted[ck] = sortEntry{gen: s.gen, recs: recs}
	}
	return recs, nil
}

// compareBy compares records by field: as time for the two timestamps, as
// strings otherwise.
func compareBy(field string, desc bool, get getter) func(x, y *rec) int {
	cmpFn := func(x, y *rec) int {
		a, _ := get(x, field)
		b, _ := get(y, field)
		return cmp.Compare(a, b)
	}
	if field == "dateModified" || field == "dateCreated" {
		cmpFn = func(x, y *rec) int { return recTime(x, field).Compare(recTime(y, field)) }
	}
	if desc {
		asc := cmpFn
		cmpFn = func(x, y *rec) int { return -asc(x, y) }
	}
	return cmpFn
}

// timeBounds reads dateModified_after/_before and dateCreated_after/_before.
func timeBounds(q map[string][]string) ([]bound, *httpErr) {
	var bounds []bound
	for _, k := range []string{"dateModified_after", "dateModified_before", "dateCreated_after", "dateCreated_before"} {
		val := first(q[k])
		if val == "" {
			continue
		}
		ts := certain.ParseTime(val)
		if ts.IsZero() {
			return nil, badRequest("%s=%q is not a timestamp (want %s)", k, val, wire)
		}
		field, after := strings.CutSuffix(k, "_after")
		if !after {
			field, _ = strings.CutSuffix(k, "_before")
		}
		bounds = append(bounds, bound{field, after, ts})
	}
	return bounds, nil
}

// keep returns the records that pass every filter.
func keep(recs []*rec, get getter, scalars []scalarFilter, bounds []bound) []*rec {
	kept := make([]*rec, 0, len(recs))
	for _, r := range recs {
		if passes(r, get, scalars, bounds) {
			kept = append(kept, r)
		}
	}
	return kept
}

// passes applies the filters to r: time bounds are strict, scalars compare
// as strings, e-mail fields ignoring case.
func passes(r *rec, get getter, scalars []scalarFilter, bounds []bound) bool {
	for _, b := range bounds {
		t := recTime(r, b.field)
		if (b.after && !t.After(b.t)) || (!b.after && !t.Before(b.t)) {
			return false
		}
	}
	for _, sc := range scalars {
		got, ok := get(r, sc.k)
		if !ok {
			return false
		}
		email := strings.EqualFold(sc.k, "email") || strings.HasSuffix(sc.k, ".email")
		if got != sc.want && !(email && strings.EqualFold(got, sc.want)) {
			return false
		}
	}
	return true
}

// first is the first value of a query parameter, or "".
func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// lookup reads a field path (certain.LookupPath) as a string, the way a
// query compares it.
func lookup(m map[string]any, name string) (string, bool) {
	v, ok := certain.LookupPath(m, name)
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// tagsWanted reports whether includeList (or include_list, or only the
// spelling WithIncludeParam names) asks for tags.
func (s *Server) tagsWanted(q map[string][]string) bool {
	for _, k := range []string{"includeList", "include_list"} {
		if s.includeParam != "" && s.includeParam != k {
			continue
		}
		for _, v := range q[k] {
			for _, item := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(item), "tags") {
					return true
				}
			}
		}
	}
	return false
}

// tagRender renders records with, or without, the tenant's tags field, in
// the server's tag shape.
func (s *Server) tagRender(withTags bool) func(*rec) map[string]any {
	field := s.fields.Tags
	return func(r *rec) map[string]any {
		m := render(r)
		v, had := m[field]
		delete(m, field)
		if !withTags || !had {
			return m
		}
		shaped := s.shapeTags(v)
		if strings.ContainsAny(field, ".[") {
			_ = certain.SetPath(m, field, shaped)
		} else {
			m[field] = shaped
		}
		return m
	}
}

// shapeTags renders a seeded tag list in the server's tag shape.
func (s *Server) shapeTags(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	switch s.tagShape {
	case TagObjects:
		out := make([]any, len(list))
		for i, t := range list {
			out[i] = map[string]any{"name": t}
		}
		return out
	case TagWrapped:
		return map[string]any{"tag": list}
	}
	return list
}

// filter keeps the records whose field equals value.
func filter(recs []*rec, field, value string) []*rec {
	var out []*rec
	for _, r := range recs {
		if v, ok := lookup(r.f, field); ok && v == value {
			out = append(out, r)
		}
	}
	return out
}
