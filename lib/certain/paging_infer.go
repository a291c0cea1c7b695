package certain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// PagingObservation is what one request of the paging test showed: the
// start_index sent, the HTTP status (200, or 404 for no rows, 400 for a
// refused index), the echoed startingIndex (-1 when absent) and the keys of
// the rows in order.
type PagingObservation struct {
	Start  int
	Status int
	Echoed int
	Keys   []string
}

// InferPaging tells a tenant's paging mode from its answers to start_index
// 0, 1 and 2 with max_results=2 (cmctl probe-certain, and the diagnosis of
// a read that stopped): 0 and 1 differ by one row in a 0-based tenant; a
// 1-based tenant refuses 0 or answers it as 1, and then 2 starts either one
// row after 1 (a record offset) or after the whole page (a page number).
// ok is false when the answers do not settle it (fewer than 3 rows, an
// unstable order, or a scheme no pagingMode expresses); why says so.
func InferPaging(obs []PagingObservation) (mode, why string, ok bool) {
	var o [3]PagingObservation
	for i := range o {
		o[i] = PagingObservation{Start: i, Echoed: -1}
	}
	for _, x := range obs {
		if x.Start >= 0 && x.Start < 3 {
			o[x.Start] = x
		}
	}
	if o[1].Status != 200 || len(o[1].Keys) < 2 || o[2].Status != 200 || len(o[2].Keys) == 0 {
		return "", "start_index 1 and 2 did not both return rows: the collection needs at least 3 rows to tell the paging mode", false
	}
	if len(o[1].Keys) > 2 && slices.Equal(o[1].Keys, o[2].Keys) {
		return PagingNone, "start_index and max_results=2 are ignored: every answer holds all rows", true
	}
	zero := o[0].Status == 200 && len(o[0].Keys) >= 2
	if zero && o[0].Keys[0] != o[1].Keys[0] {
		if o[0].Keys[1] == o[1].Keys[0] && o[2].Keys[0] == o[1].Keys[1] {
			return PagingOffset0, "start_index 0, 1 and 2 start one row apart, from the first row", true
		}
		return "", "start_index 0 and 1 return different pages that are not one row apart: 0-based page numbers, which no pagingMode expresses", false
	}
	how := "start_index 0 was refused"
	if zero {
		how = "start_index 0 was answered like 1"
	}
	switch {
	case o[2].Keys[0] == o[1].Keys[1]:
		return PagingOffset1, how + ", and 2 starts one row after 1: a 1-based record offset", true
	case !slices.Contains(o[1].Keys, o[2].Keys[0]):
		return PagingPage1, how + ", and 2 starts after the whole page of 1: a 1-based page number", true
	}
	return "", "start_index 1 and 2 overlap in a way no pagingMode explains (is the order stable?)", false
}

// diagnose names the cause of a paging mismatch by asking the tenant: the
// paging test of InferPaging on the collection being read (three small
// calls). When the test settles the mode, the cause names it and the
// setting; otherwise fallback, the likely cause from the symptom alone.
func (r *reader) diagnose(ctx context.Context, fallback string) string {
	const probe = " (cmctl probe-certain infers the right setting)"
	if r.mode == PagingNone {
		return fallback
	}
	obs := make([]PagingObservation, 0, 3)
	for start := range 3 {
		ob := PagingObservation{Start: start, Echoed: -1}
		env, err := r.fetch(ctx, start, 2)
		var e *Error
		switch {
		case err == nil:
			ob.Status = 200
			if n, ok := envInt(env, "startingIndex"); ok {
				ob.Echoed = n
			}
			rows, _ := env[r.ps.key].([]map[string]any) // as decodePage stores them
			for _, m := range rows {
				ob.Keys = append(ob.Keys, rowKey(m, r.ps.id))
			}
		case errors.As(err, &e):
			ob.Status = e.Status
		default:
			return fallback + probe
		}
		obs = append(obs, ob)
	}
	mode, why, ok := InferPaging(obs)
	if !ok || mode == r.mode {
		return fallback + probe
	}
	return fmt.Sprintf("this tenant %s: set pagingMode: %s (asked again with max_results=2, %s)", describeMode(mode), mode, why)
}

// describeMode says in words what a paging mode means.
func describeMode(mode string) string {
	switch mode {
	case PagingOffset0:
		return "reads start_index as a 0-based record offset"
	case PagingOffset1:
		return "reads start_index as a 1-based record offset"
	case PagingPage1:
		return "pages by page number"
	}
	return "does not page"
}

// rowKey is a row's key for the paging test: its id, or its whole JSON.
func rowKey(m map[string]any, id func(map[string]any) string) string {
	if id != nil {
		if k := id(m); k != "" {
			return k
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// echoCause is the likely cause of an echoed startingIndex that differs
// from the start_index sent.
func echoCause(mode string, sent, got int) string {
	switch {
	case got == sent+1:
		return "this tenant counts start_index from 1: set pagingMode: offset1 or page1"
	case got == sent-1 && mode != PagingOffset0:
		return "this tenant counts start_index from 0: set pagingMode: offset0"
	}
	return "this tenant reads start_index differently from pagingMode " + mode
}

// overlapCause is the likely cause of a row read twice.
func overlapCause(mode string) string {
	switch mode {
	case PagingPage1:
		return "the pages overlap: this tenant reads start_index as a record offset, not a page number: set pagingMode: offset1 or offset0"
	case PagingOffset0:
		return "the pages overlap by a row: this tenant counts start_index from 1: set pagingMode: offset1"
	}
	return "the pages overlap: this tenant reads start_index differently from pagingMode " + mode
}

// shortCause is the likely cause of a read that ended before the total.
func shortCause(mode string, read, total int) string {
	switch {
	case mode == PagingOffset1 && total-read == 1:
		return "one row is missing, probably the first: this tenant counts start_index from 0: set pagingMode: offset0"
	case mode == PagingPage1:
		return "rows are missing: this tenant does not read start_index as a page number"
	}
	return "rows are missing: this tenant probably pages by page number: set pagingMode: page1"
}
