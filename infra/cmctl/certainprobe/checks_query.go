package certainprobe

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// sampleSize is the page size of the sort and filter checks.
const sampleSize = 50

// checkOrder finds which spelling of the sort parameter sorts: a
// parameter is honoured when dateModified_asc and _desc both come back
// sorted, and differently.
func (p *probe) checkOrder(ctx context.Context, name, path string) {
	var honoured []string
	var detail []string
	for _, param := range p.spellings(p.o.Conn.OrderByParam, certain.DefaultOrderByParam, "orderBy", "order_by") {
		asc, err := p.sortedDates(ctx, path, param, "dateModified_asc")
		if err != nil {
			detail = append(detail, fmt.Sprintf("%s: %v", param, err))
			continue
		}
		desc, err := p.sortedDates(ctx, path, param, "dateModified_desc")
		if err != nil {
			detail = append(detail, fmt.Sprintf("%s: %v", param, err))
			continue
		}
		if len(asc) < 2 {
			p.add(Info, "sort "+name, "fewer than 2 rows: cannot tell")
			return
		}
		ok := slices.IsSortedFunc(asc, time.Time.Compare) && slices.IsSortedFunc(desc, func(a, b time.Time) int { return b.Compare(a) }) &&
			!slices.EqualFunc(asc, desc, time.Time.Equal)
		if ok {
			honoured = append(honoured, param)
		}
		detail = append(detail, fmt.Sprintf("%s=dateModified_asc/_desc %s", param, map[bool]string{true: "sorts", false: "does not sort"}[ok]))
	}
	status := Pass
	if len(honoured) == 0 {
		status = Info
		if name == "Registration" {
			status = Fail // the jobs read registrations in dateModified order
		}
	} else if name == "Registration" {
		p.rep.Inferred.OrderByParam = honoured[0]
	}
	p.add(status, "sort "+name, strings.Join(detail, "; "))
}

// spellings lists the spellings of a parameter, the configured one first.
func (p *probe) spellings(configured, def string, all ...string) []string {
	first := configured
	if first == "" {
		first = def
	}
	out := []string{first}
	for _, s := range all {
		if s != first {
			out = append(out, s)
		}
	}
	return out
}

// sortedDates reads the first page sorted by order with param and returns
// its rows' dateModified.
func (p *probe) sortedDates(ctx context.Context, path, param, order string) ([]time.Time, error) {
	a, err := p.raw.page(ctx, path, url.Values{param: {order}}, firstIndex(p.rep.Inferred.PagingMode), sampleSize)
	if err != nil {
		return nil, err
	}
	if a.status == http.StatusNotFound {
		return nil, nil
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("%s", a.message())
	}
	var out []time.Time
	for _, r := range a.rows() {
		out = append(out, certain.ParseTime(str(r, "dateModified")))
	}
	return out, nil
}

// afterFormats are the filter time layouts tried (the configured one first).
func afterFormats(configured string) []string {
	all := []string{certain.FilterTimeFormat, "2006/01/02 15:04:05", "2006-01-02 15:04:05"}
	if configured == "" || slices.Contains(all, configured) {
		if configured != "" {
			return append([]string{configured}, slices.DeleteFunc(all, func(s string) bool { return s == configured })...)
		}
		return all
	}
	return append([]string{configured}, all...)
}

// checkAfter tries dateModified_after in each format at the dateModified of
// a row in the middle of the first sorted page: accepted or refused, applied
// or ignored, inclusive or strict.
func (p *probe) checkAfter(ctx context.Context, name, path string) {
	param := p.effective().OrderByParam
	if param == "" {
		param = certain.DefaultOrderByParam
	}
	first := firstIndex(p.rep.Inferred.PagingMode)
	base, err := p.raw.page(ctx, path, url.Values{param: {"dateModified_asc"}}, first, sampleSize)
	rows := base.rows()
	if err != nil || len(rows) < 2 {
		p.add(Info, "dateModified_after "+name, "fewer than 2 rows: cannot tell")
		return
	}
	total, _ := base.envInt("completeCollectionSize")
	wire := str(rows[len(rows)/2], "dateModified")
	at := certain.ParseTime(wire)
	var accepted []string
	var detail []string
	for _, layout := range afterFormats(p.o.Conn.FilterTimeFormat) {
		v := at.Format(layout)
		a, err := p.raw.page(ctx, path, url.Values{param: {"dateModified_asc"}, "dateModified_after": {v}}, first, sampleSize)
		switch {
		case err != nil:
			detail = append(detail, fmt.Sprintf("%q: %v", v, err))
		case a.status == http.StatusBadRequest:
			detail = append(detail, fmt.Sprintf("%q refused (%s)", v, a.message()))
		case a.status == http.StatusNotFound:
			accepted = append(accepted, layout)
			detail = append(detail, fmt.Sprintf("%q accepted: no rows after it", v))
		case a.status == http.StatusOK:
			n, _ := a.envInt("completeCollectionSize")
			got := a.rows()
			if n >= total && total > 1 {
				detail = append(detail, fmt.Sprintf("%q ignored (all %d rows returned)", v, n))
				continue
			}
			accepted = append(accepted, layout)
			kind := "strictly after"
			if len(got) > 0 && str(got[0], "dateModified") == wire {
				kind = "inclusive (rows at the same second come back)"
			}
			detail = append(detail, fmt.Sprintf("%q accepted, %s: %d of %d rows", v, kind, n, total))
		default:
			detail = append(detail, fmt.Sprintf("%q: %s", v, a.message()))
		}
	}
	status := Pass
	switch {
	case len(accepted) == 0 && name == "Registration":
		status = Fail // the detector filters registrations by it
	case len(accepted) == 0:
		status = Info
	case name == "Registration":
		p.rep.Inferred.FilterTimeFormat = accepted[0]
	}
	p.add(status, "dateModified_after "+name, fmt.Sprintf("at %s: %s", wire, strings.Join(detail, "; ")))
}
