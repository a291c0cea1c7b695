package certain

import (
	"context"
	"sync"
)

// Read-ahead: once a read knows the collection's size (the first page's
// completeCollectionSize) and how many rows a page holds, the offsets of the
// next pages are known too, so a reader fetches up to Config.ReadAhead of
// them while its caller handles the page it was given. Every page is still
// checked in order, exactly as a page read one after another is (reader.next):
// read-ahead changes when a page is fetched, never what is accepted.
//
// A prefetched page is used only while the read stays predictable. A page
// shorter than the ones before it (a server cap met mid-read), an adopted
// page size (page1), or a completeCollectionSize that differs from the one
// the read knows (rows added or removed during the read) drops every page
// fetched ahead, and the page that showed the change is fetched again in
// sequence, so the checks judge the collection as a sequential read would
// have seen it.

// prefetch is one page fetched ahead of the reader. It keeps the response
// body as read and is decoded only when the reader takes it: decoded, a
// page's rows take about five times the bytes of their JSON (a map per
// object, a string per key and value), and the pages ahead wait while the
// job's batches are busy.
type prefetch struct {
	done   chan struct{}
	cancel context.CancelFunc
	body   []byte
	err    error
}

// aheadKey names a page by the start_index sent and the max_results asked.
type aheadKey struct{ start, size int }

// aheadState is a reader's pages in flight ahead of it.
type aheadState struct {
	ctx   context.Context // the read's context; prefetches are cancelled with it
	pages map[aheadKey]*prefetch
	wg    sync.WaitGroup
	// window is how many pages are fetched ahead now, between 1 and the
	// client's read-ahead (where it starts; 0 with read-ahead off). A caller
	// slower than Certain (its batches wait on write-backs) finds even the
	// last page fetched ahead already read when it takes the next, and the
	// pages wait as bodies in memory: each such take narrows the window by
	// one. A caller that has to wait for the page it takes is faster than
	// the reads: the window doubles, up to the read-ahead. The window
	// changes when pages are fetched, never which.
	window int
}

// adapt sets the window on taking a page fetched ahead: waited is whether
// the page was still being fetched; the taken page is no longer in pages.
func (a *aheadState) adapt(most int, waited bool) {
	if waited {
		a.window = min(most, 2*a.window)
		return
	}
	var last *prefetch
	lastStart := -1
	for k, p := range a.pages {
		if k.start > lastStart {
			last, lastStart = p, k.start
		}
	}
	if last == nil {
		return
	}
	select {
	case <-last.done:
		a.window = max(1, a.window-1)
	default:
	}
}

// readAhead is how many pages the client fetches ahead: Config.ReadAhead,
// by default half of MaxInFlight; negative turns it off.
func (c *Client) readAhead() int {
	switch n := c.cfg.ReadAhead; {
	case n < 0:
		return 0
	case n > 0:
		return n
	}
	return max(1, c.cfg.MaxInFlight/2)
}

// take returns the page for start_index sent fetched ahead, waiting for it,
// and whether there was one. A read that asks for a page it did not
// predict drops every prefetch.
func (r *reader) take(ctx context.Context, sent int) (map[string]any, bool, error) {
	k := aheadKey{sent, r.size}
	p, ok := r.ahead.pages[k]
	if !ok {
		r.dropAhead()
		return nil, false, nil
	}
	delete(r.ahead.pages, k)
	waited := false
	select {
	case <-p.done:
	default:
		waited = true
	}
	r.ahead.adapt(r.c.readAhead(), waited)
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		return nil, true, ctx.Err()
	}
	p.cancel()
	if p.err != nil {
		return nil, true, p.err
	}
	env, err := r.decode(p.body)
	return env, true, err
}

// launchAhead starts fetching the pages after the one just accepted (of
// rows rows), up to the window (at most the read-ahead), within the known
// total.
func (r *reader) launchAhead(rows int) {
	n := r.ahead.window
	if n == 0 || r.done || r.total < 0 || r.ahead.ctx == nil || rows == 0 {
		return
	}
	step := rows
	switch r.mode {
	case PagingNone:
		return
	case PagingPage1:
		if !r.sized || rows != r.size {
			return
		}
	}
	for i := range n {
		off := r.offset + i*step
		if off >= r.total {
			break
		}
		start := off
		switch r.mode {
		case PagingOffset1:
			start = off + 1
		case PagingPage1:
			start = r.page + i
		}
		k := aheadKey{start, r.size}
		if _, ok := r.ahead.pages[k]; ok {
			continue
		}
		if len(r.ahead.pages) >= n {
			break
		}
		r.startPrefetch(k)
	}
}

// startPrefetch fetches page k in the background; dropAhead and close
// cancel it and wait for it.
func (r *reader) startPrefetch(k aheadKey) {
	ctx, cancel := context.WithCancel(r.ahead.ctx)
	p := &prefetch{done: make(chan struct{}), cancel: cancel}
	r.ahead.pages[k] = p
	r.ahead.wg.Go(func() {
		defer close(p.done)
		p.body, p.err = r.fetchBody(ctx, k.start, k.size)
	})
}

// dropAhead cancels every page fetched ahead (their answers are not used).
func (r *reader) dropAhead() {
	for k, p := range r.ahead.pages {
		p.cancel()
		delete(r.ahead.pages, k)
	}
}

// closeAhead ends the read: prefetches still running are cancelled and
// waited for, so no fetch outlives the read.
func (r *reader) closeAhead() {
	r.dropAhead()
	r.ahead.wg.Wait()
}
