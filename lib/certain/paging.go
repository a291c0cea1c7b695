package certain

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Paging modes for start_index (docs/certain.md §4).
const (
	PagingOffset0 = "offset0" // 0-based record offset (default)
	PagingOffset1 = "offset1" // 1-based record offset
	PagingPage1   = "page1"   // 1-based page number
)

// pageSpec describes a paged collection read.
type pageSpec struct {
	resource string
	path     string
	query    url.Values
	key      string // array key in the envelope
	start    int
}

// pages streams a collection one page at a time. The last yielded page has
// Last set; a 404 or an empty collection yields one empty Last page.
func pages[T any](ctx context.Context, c *Client, ps pageSpec, decode func(env, item map[string]any) T) iter.Seq2[Page[T], error] {
	return func(yield func(Page[T], error) bool) {
		if err := c.checkStart(ps); err != nil {
			yield(Page[T]{}, err)
			return
		}
		offset := ps.start
		for n := 0; ; n++ {
			if n >= c.cfg.MaxPages {
				yield(Page[T]{StartIndex: offset, NextIndex: offset}, fmt.Errorf("certain: %s: stopped after %d pages (runaway paging guard)", ps.resource, n))
				return
			}
			p, err := fetchPage(ctx, c, ps, offset, decode)
			if err != nil {
				yield(Page[T]{StartIndex: offset, NextIndex: offset}, err)
				return
			}
			if !yield(p, nil) || p.Last {
				return
			}
			offset = p.NextIndex
		}
	}
}

// checkStart refuses a start index the paging mode cannot express.
func (c *Client) checkStart(ps pageSpec) error {
	if ps.start < 0 {
		return fmt.Errorf("certain: %s: start index %d is negative", ps.resource, ps.start)
	}
	if c.cfg.PagingMode == PagingPage1 && ps.start%c.cfg.PageSize != 0 {
		return fmt.Errorf("certain: %s: start index %d is not a multiple of page size %d (paging mode page1)", ps.resource, ps.start, c.cfg.PageSize)
	}
	return nil
}

// fetchPage reads the page starting at offset. A 404 is an empty last page.
func fetchPage[T any](ctx context.Context, c *Client, ps pageSpec, offset int, decode func(env, item map[string]any) T) (Page[T], error) {
	q := url.Values{}
	for k, v := range ps.query {
		q[k] = v
	}
	q.Set("start_index", strconv.Itoa(c.startParam(offset)))
	q.Set("max_results", strconv.Itoa(c.cfg.PageSize))
	body, err := c.do(ctx, call{method: http.MethodGet, resource: ps.resource, path: ps.path, query: q})
	if IsNotFound(err) {
		return Page[T]{StartIndex: offset, NextIndex: offset, Last: true}, nil
	}
	if err != nil {
		return Page[T]{}, err
	}
	env, err := decodeObject(http.MethodGet, ps.resource, body)
	if err != nil {
		return Page[T]{}, err
	}
	raw, _ := env[ps.key].([]any)
	p := Page[T]{StartIndex: offset, Total: int(num(env["completeCollectionSize"]))}
	for _, r := range raw {
		item, ok := r.(map[string]any)
		if !ok {
			return Page[T]{}, fmt.Errorf("certain: GET %s: %q holds a non-object entry", ps.resource, ps.key)
		}
		p.Items = append(p.Items, decode(env, item))
	}
	p.NextIndex = offset + len(p.Items)
	p.Last = isLastPage(env, p)
	return p, nil
}

// isLastPage: no rows, a size of 0, or the complete collection read.
func isLastPage[T any](env map[string]any, p Page[T]) bool {
	_, hasSize := env["size"]
	return len(p.Items) == 0 || (hasSize && num(env["size"]) == 0) || (p.Total > 0 && p.NextIndex >= p.Total)
}

// startParam is the start_index that asks for the page at record offset.
func (c *Client) startParam(offset int) int {
	switch c.cfg.PagingMode {
	case PagingOffset1:
		return offset + 1
	case PagingPage1:
		return offset/c.cfg.PageSize + 1
	}
	return offset
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
