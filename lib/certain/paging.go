package certain

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/certain-marketo/certain-marketo/lib/recent"
)

// Paging modes for start_index (docs/certain.md §4).
const (
	PagingOffset0 = "offset0" // 0-based record offset (default)
	PagingOffset1 = "offset1" // 1-based record offset
	PagingPage1   = "page1"   // 1-based page number
	PagingNone    = "none"    // the endpoint does not page: one call, every row
)

// PagingModes lists the valid pagingMode values.
func PagingModes() []string { return []string{PagingOffset0, PagingOffset1, PagingPage1, PagingNone} }

// pageSpec describes a paged collection read.
type pageSpec struct {
	resource string
	path     string
	query    url.Values
	key      string // array key in the envelope
	start    int    // record offset to resume at
	// id is the key of a row for the repeated-row check (nil: no check).
	id func(item map[string]any) string
	// check inspects each row for a contract mismatch (nil: none).
	check func(item map[string]any) error
	// keep returns what the read keeps of a row, once it is checked (nil:
	// all of it). It must keep what id, the repeated-row check's
	// dateModified and the page's decode read.
	keep func(item map[string]any) map[string]any
}

// pages streams a collection one page at a time. Every page is checked
// (reader.next) before it is yielded, so a page that shows the connection's
// paging settings are wrong is never handed to a job. The last yielded page
// has Last set; a 404 or an empty collection yields one empty Last page.
func pages[T any](ctx context.Context, c *Client, ps pageSpec, decode func(env, item map[string]any) T) iter.Seq2[Page[T], error] {
	return func(yield func(Page[T], error) bool) {
		r, err := c.newReader(ps)
		if err != nil {
			yield(Page[T]{StartIndex: ps.start, NextIndex: ps.start}, err)
			return
		}
		r.ahead.ctx = ctx
		defer r.closeAhead()
		for {
			env, items, err := r.next(ctx)
			if err != nil {
				yield(Page[T]{StartIndex: r.offset, NextIndex: r.offset}, err)
				return
			}
			p := Page[T]{StartIndex: r.pageStart, NextIndex: r.offset, Total: max(r.total, 0), Last: r.done}
			for _, it := range items {
				p.Items = append(p.Items, decode(env, it))
			}
			if !yield(p, nil) || p.Last {
				return
			}
		}
	}
}

// reader walks one collection read and checks every envelope: the echoed
// startingIndex and maxResults against what was asked, the rows against
// size, the running count against completeCollectionSize, an empty page or
// 404 before the total, and a row seen twice. Any mismatch stops the read
// with a *ContractError that names the likely cause and the setting.
type reader struct {
	c         *Client
	ps        pageSpec
	mode      string
	size      int // max_results asked
	page      int // page1: the page number of the next page
	offset    int // record offset of the next page
	pageStart int // record offset of the page just read
	total     int // latest completeCollectionSize; -1 while unknown
	first     int // the first completeCollectionSize seen; -1 while unknown
	pages     int
	seen      *rowVersions // the last rows read: key -> dateModified, hashed
	ahead     aheadState   // pages fetched ahead (readahead.go)
	done      bool
	sized     bool // page1: the page size was checked against the server's
}

// newReader validates the start of a read.
func (c *Client) newReader(ps pageSpec) (*reader, error) {
	if ps.start < 0 {
		return nil, fmt.Errorf("certain: %s: start index %d is negative", ps.resource, ps.start)
	}
	if c.cfg.PagingMode == PagingNone && ps.start > 0 {
		return nil, fmt.Errorf("certain: %s: cannot resume at record %d with pagingMode none", ps.resource, ps.start)
	}
	r := &reader{c: c, ps: ps, mode: c.cfg.PagingMode, size: c.cfg.PageSize, offset: ps.start, pageStart: ps.start,
		total: -1, first: -1, seen: newRowVersions(), ahead: aheadState{pages: map[aheadKey]*prefetch{}, window: c.readAhead()}}
	r.page = ps.start/r.size + 1
	return r, nil
}

// next reads, checks and returns the next page's envelope and rows.
func (r *reader) next(ctx context.Context) (map[string]any, []map[string]any, error) {
	if r.pages >= r.c.cfg.MaxPages {
		return nil, nil, fmt.Errorf("certain: %s: stopped after %d pages (runaway paging guard)", r.ps.resource, r.pages)
	}
	if r.mode == PagingNone {
		return r.whole(ctx)
	}
	if r.mode == PagingPage1 && !r.sized && r.offset%r.size != 0 {
		if err := r.learnPageSize(ctx); err != nil {
			return nil, nil, err
		}
	}
	sent := r.startParam()
	r.pages++
	env, err := r.fetchNext(ctx, sent)
	if IsNotFound(err) {
		return nil, nil, r.notFound(ctx, sent)
	}
	if err != nil {
		return nil, nil, r.refused(ctx, err, sent)
	}
	items, err := r.rows(env)
	if err != nil {
		return nil, nil, err
	}
	if err := r.checkEcho(ctx, env, sent); err != nil {
		return nil, nil, err
	}
	if redo, err := r.checkPageSize(env, len(items)); err != nil || redo {
		if err != nil {
			return nil, nil, err
		}
		return r.next(ctx)
	}
	if err := r.checkTotal(env); err != nil {
		return nil, nil, err
	}
	kept, err := r.checkRepeats(ctx, items)
	if err != nil {
		return nil, nil, err
	}
	r.pageStart = r.offset
	r.offset += len(items)
	r.page++
	if err := r.checkEnd(ctx, len(items)); err != nil {
		return nil, nil, err
	}
	r.launchAhead(len(items))
	return env, kept, nil
}

// fetchNext returns the page at start_index sent: the one fetched ahead
// when there is one and the collection's size is still the one the read
// knows, otherwise fetched now.
func (r *reader) fetchNext(ctx context.Context, sent int) (map[string]any, error) {
	env, ahead, err := r.take(ctx, sent)
	if !ahead {
		return r.fetch(ctx, sent, r.size)
	}
	if err == nil && r.total >= 0 {
		if t, ok := envInt(env, "completeCollectionSize"); ok && t != r.total {
			// The collection changed during the read: judge it as a
			// sequential read would, from this page on.
			r.dropAhead()
			return r.fetch(ctx, sent, r.size)
		}
	}
	return env, err
}

// startParam is the start_index of the next page in the paging mode.
func (r *reader) startParam() int {
	switch r.mode {
	case PagingOffset1:
		return r.offset + 1
	case PagingPage1:
		return r.page
	}
	return r.offset
}

// fetch asks for one page and decodes its envelope.
func (r *reader) fetch(ctx context.Context, start, size int) (map[string]any, error) {
	body, err := r.fetchBody(ctx, start, size)
	if err != nil {
		return nil, err
	}
	return r.decode(body)
}

// decode decodes a page's body: its envelope, and its rows checked and
// kept one at a time (pagedecode.go).
func (r *reader) decode(body []byte) (map[string]any, error) {
	return decodePage(r.ps.resource, r.ps.key, body, r.row)
}

// row checks one row and returns what the read keeps of it.
func (r *reader) row(x any) (map[string]any, error) {
	item, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("certain: GET %s: %q holds a non-object entry", r.ps.resource, r.ps.key)
	}
	if r.ps.check != nil {
		if err := r.ps.check(item); err != nil {
			return nil, err
		}
	}
	if r.ps.keep != nil {
		return r.ps.keep(item), nil
	}
	return item, nil
}

// fetchBody asks for one page and returns the response body.
func (r *reader) fetchBody(ctx context.Context, start, size int) ([]byte, error) {
	q := url.Values{}
	for k, v := range r.ps.query {
		q[k] = v
	}
	if r.mode != PagingNone {
		q.Set("start_index", strconv.Itoa(start))
		q.Set("max_results", strconv.Itoa(size))
	}
	return r.c.do(ctx, call{method: http.MethodGet, resource: r.ps.resource, path: r.ps.path, query: q})
}

// rows returns the envelope's rows (checked and kept as they were
// decoded: row) and checks them against its size.
func (r *reader) rows(env map[string]any) ([]map[string]any, error) {
	items, _ := env[r.ps.key].([]map[string]any)
	if n, ok := envInt(env, "size"); ok && n != len(items) {
		return nil, r.contract(fmt.Sprintf("the envelope says size %d but holds %d rows under %q", n, len(items), r.ps.key),
			"the array key or the envelope differs from what this product expects; run cmctl probe-certain")
	}
	return items, nil
}

// checkEcho compares the echoed startingIndex with the start_index sent.
func (r *reader) checkEcho(ctx context.Context, env map[string]any, sent int) error {
	got, ok := envInt(env, "startingIndex")
	if !ok || got == sent {
		return nil
	}
	what := fmt.Sprintf("Certain echoed startingIndex %d for start_index %d", got, sent)
	return r.contract(what, r.diagnose(ctx, echoCause(r.mode, sent, got)))
}

// checkPageSize compares the echoed maxResults with max_results. The offset
// modes follow the rows actually returned, so a cap changes nothing; page
// numbers count in pages of the server's size, so page1 adopts it (redo:
// ask again for the page that holds the next record).
func (r *reader) checkPageSize(env map[string]any, rows int) (redo bool, err error) {
	echoed, ok := envInt(env, "maxResults")
	if r.mode != PagingPage1 {
		return false, nil
	}
	if !ok || echoed == r.size || echoed <= 0 {
		r.sized = r.sized || ok
		return false, nil
	}
	if rows > echoed {
		return false, r.contract(fmt.Sprintf("Certain echoed maxResults %d but returned %d rows", echoed, rows),
			"the server's page size is not what it says; run cmctl probe-certain")
	}
	r.c.rememberPageSize(r.ps.resource, echoed)
	if r.page == 1 {
		r.size, r.sized = echoed, true
		return false, nil
	}
	// A resumed read asked page n in pages of the configured size: the rows
	// it got start elsewhere. Ask again in the server's pages.
	if r.offset%echoed != 0 {
		return false, r.contract(fmt.Sprintf("Certain pages by %d rows, not the %d asked, and record %d does not start one of its pages", echoed, r.size, r.offset),
			fmt.Sprintf("set pageSize: %d", echoed))
	}
	r.size, r.sized, r.page = echoed, true, r.offset/echoed+1
	r.pages--
	return true, nil
}

// learnPageSize finds the page size a page1 server uses before a read that
// resumes at a record offset that is not a multiple of the configured size
// (the previous invocation adopted the server's smaller size).
func (r *reader) learnPageSize(ctx context.Context) error {
	size, known := r.c.pageSize(r.ps.resource)
	if !known {
		r.pages++
		env, err := r.fetch(ctx, 1, r.size)
		if err != nil && !IsNotFound(err) {
			return err
		}
		if n, ok := envInt(env, "maxResults"); ok && n > 0 {
			size = n
		}
	}
	if size <= 0 || r.offset%size != 0 {
		return fmt.Errorf("certain: %s: start index %d is not a multiple of page size %d (paging mode page1)", r.ps.resource, r.offset, r.size)
	}
	r.size, r.sized, r.page = size, true, r.offset/size+1
	return nil
}

// checkTotal follows completeCollectionSize. A total that grows is rows
// added during the read (they are read too); one that shrinks means rows
// were removed, and a row after them may have moved into the part already
// read: the read stops rather than miss it.
func (r *reader) checkTotal(env map[string]any) error {
	t, ok := envInt(env, "completeCollectionSize")
	if !ok {
		return nil
	}
	if r.total >= 0 && t < r.total {
		return fmt.Errorf("certain: %s: %w: completeCollectionSize fell from %d to %d while the collection was read, so a row may have been skipped; the next run reads it again",
			r.ps.resource, ErrCollectionChanged, r.total, t)
	}
	if r.first < 0 {
		r.first = t
	}
	r.total = t
	return nil
}

// checkRepeats finds rows already read in this read. The same row at the
// same dateModified while the total is unchanged means the pages overlap
// (the paging mode is wrong); with a grown total it is a row pushed along
// by an insertion (dropped); with a newer dateModified it is a row changed
// during the read (kept: it is the newer version).
func (r *reader) checkRepeats(ctx context.Context, items []map[string]any) ([]map[string]any, error) {
	if r.ps.id == nil {
		return items, nil
	}
	kept := items[:0:0]
	for _, it := range items {
		k := r.ps.id(it)
		if k == "" {
			kept = append(kept, it)
			continue
		}
		ver := r.seen.version(getString(it, "dateModified"))
		prev, seen := r.seen.get(k)
		switch {
		case !seen || prev != ver:
			kept = append(kept, it)
		case r.total == r.first:
			what := fmt.Sprintf("row %q came back at record %d after %d rows had been read", k, r.offset, r.offset-r.ps.start)
			return nil, r.contract(what, r.diagnose(ctx, overlapCause(r.mode)))
		}
		r.seen.set(k, ver)
	}
	return kept, nil
}

// rowVersions remembers the rows of a read by hashes, not strings (24
// bytes a row instead of two strings and their map entry), and only the
// last ones: two generations of rowWindow rows (lib/recent), so it holds
// between rowWindow and 2 x rowWindow rows and the job's memory stays near
// its batches whatever the read's size (docs/architecture.md §7). A repeat
// comes from pages that overlap or rows pushed along by insertions and
// deletions, which puts it within a page or two of its first reading; one
// further back than rowWindow rows is not seen, and is handled again
// (docs/certain.md §4). The key's hash has 128 bits, so two rows never
// share one in practice; the version's 64 bits only matter for a row seen
// twice.
type rowVersions struct {
	s1, s2, sv maphash.Seed
	rows       *recent.Map[[2]uint64, uint64]
}

// rowWindow is how many rows a generation of rowVersions holds.
const rowWindow = 5000

func newRowVersions() *rowVersions {
	return &rowVersions{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), sv: maphash.MakeSeed(), rows: recent.New[[2]uint64, uint64](rowWindow)}
}

func (v *rowVersions) key(k string) [2]uint64 {
	return [2]uint64{maphash.String(v.s1, k), maphash.String(v.s2, k)}
}

// version is the hash of a row's dateModified.
func (v *rowVersions) version(ver string) uint64 { return maphash.String(v.sv, ver) }

func (v *rowVersions) get(k string) (uint64, bool) { return v.rows.Get(v.key(k)) }

func (v *rowVersions) set(k string, ver uint64) { v.rows.Add(v.key(k), ver) }

// checkEnd decides whether the read is complete after a page of n rows.
func (r *reader) checkEnd(ctx context.Context, n int) error {
	switch {
	case r.total >= 0 && r.offset > r.total:
		return r.contract(fmt.Sprintf("%d rows were read but completeCollectionSize is %d", r.offset, r.total),
			r.diagnose(ctx, "the pages overlap"))
	case n == 0 && r.total >= 0 && r.offset < r.total:
		return r.short(ctx, fmt.Sprintf("an empty page at record %d", r.offset))
	case n == 0:
		r.done = true
	case r.total >= 0 && r.offset == r.total:
		r.done = true
	case r.total >= 0 && r.mode == PagingPage1 && n < r.size:
		return r.contract(fmt.Sprintf("page %d held %d rows of %d asked, before the end (%d of %d rows read)", r.page-1, n, r.size, r.offset, r.total),
			fmt.Sprintf("the server caps max_results without saying so: set pageSize: %d", n))
	}
	return nil
}

// notFound handles a 404 on a page: an empty collection on the first page
// of a fresh read; the end of a resumed read only once the collection is
// known to be no longer; otherwise rows are missing.
func (r *reader) notFound(ctx context.Context, sent int) error {
	switch {
	case r.total >= 0 && r.offset < r.total:
		return r.short(ctx, fmt.Sprintf("404 (no rows) at start_index %d", sent))
	case r.total < 0 && r.offset > 0:
		// A resumed read: the 404 is the end only if the collection has
		// no rows from here on.
		r.pages++
		env, first, err := r.fetchFirst(ctx)
		if err != nil && !IsNotFound(err) {
			return r.refused(ctx, err, first)
		}
		if t, ok := envInt(env, "completeCollectionSize"); ok && t > r.offset {
			r.total = t
			return r.short(ctx, fmt.Sprintf("404 (no rows) at start_index %d when resuming at record %d", sent, r.offset))
		}
	}
	r.pageStart, r.done = r.offset, true
	return nil
}

// fetchFirst reads one row of the first page, for its envelope.
func (r *reader) fetchFirst(ctx context.Context) (map[string]any, int, error) {
	first := 0
	if r.mode != PagingOffset0 {
		first = 1
	}
	env, err := r.fetch(ctx, first, 1)
	return env, first, err
}

// short is the error of a read that ended before completeCollectionSize.
func (r *reader) short(ctx context.Context, what string) error {
	what = fmt.Sprintf("%s after %d of %d rows", what, r.offset, r.total)
	return r.contract(what, r.diagnose(ctx, shortCause(r.mode, r.offset, r.total)))
}

// refused names the likely cause of a 400 on start_index 0: a tenant that
// counts from 1.
func (r *reader) refused(ctx context.Context, err error, sent int) error {
	var e *Error
	if sent == 0 && r.mode == PagingOffset0 && errors.As(err, &e) && e.Status == http.StatusBadRequest {
		cause := r.diagnose(ctx, "this tenant probably counts start_index from 1: set pagingMode: offset1 or page1")
		return &ContractError{Resource: r.ps.resource, What: fmt.Sprintf("Certain refused start_index 0 (HTTP %d: %s)", e.Status, e.Message), Cause: cause, Err: err}
	}
	return err
}

// whole reads an endpoint that does not page: one call, and the check that
// it returned the whole collection.
func (r *reader) whole(ctx context.Context) (map[string]any, []map[string]any, error) {
	r.pages++
	r.done = true
	env, err := r.fetch(ctx, 0, 0)
	if IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	items, err := r.rows(env)
	if err != nil {
		return nil, nil, err
	}
	if t, ok := envInt(env, "completeCollectionSize"); ok && t != len(items) {
		return nil, nil, r.contract(fmt.Sprintf("one call returned %d of %d rows (completeCollectionSize)", len(items), t),
			"this endpoint pages: set pagingMode: offset0, offset1 or page1 (cmctl probe-certain infers it)")
	}
	r.offset = len(items)
	r.total = len(items)
	return env, items, nil
}

// contract builds the error of a mismatch on this read.
func (r *reader) contract(what, cause string) error {
	return &ContractError{Resource: r.ps.resource, What: what, Cause: cause}
}

// envInt reads an integer envelope field; ok is false when it is absent or
// null.
func envInt(env map[string]any, key string) (int, bool) {
	v, ok := env[key]
	if !ok || v == nil {
		return 0, false
	}
	return int(num(v)), true
}

// collect drains a page iterator.
func collect[T any](seq iter.Seq2[Page[T], error]) ([]T, error) {
	var out []T
	for p, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, p.Items...)
	}
	return out, nil
}
