package certainprobe

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
)

// maxAsk is the largest page the probe asks for to find a cap: the largest
// pageSize a connection accepts.
const maxAsk = 1000

// checkEvent: the credentials work and the event exists. false stops the
// probe.
func (p *probe) checkEvent(ctx context.Context) bool {
	a, err := p.raw.get(ctx, p.raw.v1("Event", p.acct, p.event), nil)
	switch {
	case err != nil:
		p.add(Fail, "auth and event", err.Error())
		return false
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		p.add(Fail, "auth and event", fmt.Sprintf("Certain refused user %q: %s", p.o.Username, a.message()))
		return false
	case a.status == http.StatusNotFound:
		p.add(Fail, "auth and event", fmt.Sprintf("event %q of account %q not found (%s): check --account and --event", p.event, p.acct, a.message()))
		return false
	case a.status != http.StatusOK || a.env == nil:
		p.add(Fail, "auth and event", a.message())
		return false
	}
	p.add(Pass, "auth and event", fmt.Sprintf("user %q reads event %s/%s %q (timezoneMapping %q)", p.o.Username, p.acct, p.event,
		str(a.env, "eventName"), str(a.env, "timezoneMapping")))
	return true
}

// checkPaging infers the paging mode from start_index 0, 1 and 2 with
// max_results=2, on the event's registrations or, with fewer than three,
// the account's profiles.
func (p *probe) checkPaging(ctx context.Context) {
	type target struct{ name, path, key string }
	var why string
	for _, t := range []target{{"Registration", p.raw.v1("Registration", p.acct, p.event), "registrationCode"}, {"Profile", p.raw.v1("Profile", p.acct), "pin"}} {
		obs, echo, err := p.observe(ctx, t.path, t.key)
		if err != nil {
			p.add(Fail, "paging mode", err.Error())
			return
		}
		mode, w, ok := certain.InferPaging(obs)
		if !ok {
			why = fmt.Sprintf("%s: %s", t.name, w)
			continue
		}
		p.rep.Inferred.PagingMode = mode
		p.add(Pass, "paging mode", fmt.Sprintf("%s: %s; %s: pagingMode %s", t.name, w, echo, mode))
		return
	}
	p.add(Fail, "paging mode", why)
}

// observe asks start_index 0, 1 and 2 with max_results=2 and describes the
// echoed startingIndex.
func (p *probe) observe(ctx context.Context, path, key string) ([]certain.PagingObservation, string, error) {
	var obs []certain.PagingObservation
	echo := "startingIndex echoed as sent"
	for start := range 3 {
		a, err := p.raw.page(ctx, path, nil, start, 2)
		if err != nil {
			return nil, "", err
		}
		ob := certain.PagingObservation{Start: start, Status: a.status, Echoed: -1}
		if n, ok := a.envInt("startingIndex"); ok {
			ob.Echoed = n
			if n != start {
				echo = fmt.Sprintf("start_index %d echoed as startingIndex %d", start, n)
			}
		} else if a.status == http.StatusOK {
			echo = "no startingIndex in the envelope"
		}
		for _, r := range a.rows() {
			ob.Keys = append(ob.Keys, str(r, key))
		}
		obs = append(obs, ob)
	}
	return obs, echo, nil
}

// firstIndex is the start_index of the first page in a mode.
func firstIndex(mode string) int {
	if mode == certain.PagingOffset0 || mode == "" {
		return 0
	}
	return 1
}

// checkPageCap asks for a page of maxAsk rows and reads what came back.
func (p *probe) checkPageCap(ctx context.Context) {
	if p.rep.Inferred.PagingMode == certain.PagingNone {
		p.add(Info, "page cap", "the endpoint does not page: one answer holds every row")
		return
	}
	path := p.raw.v1("Registration", p.acct, p.event)
	a, err := p.raw.page(ctx, path, nil, firstIndex(p.rep.Inferred.PagingMode), maxAsk)
	if err != nil || a.status != http.StatusOK {
		detail := "no rows to measure"
		if err != nil {
			detail = err.Error()
		}
		p.add(Info, "page cap", detail)
		return
	}
	rows := len(a.rows())
	total, _ := a.envInt("completeCollectionSize")
	echoed, hasEcho := a.envInt("maxResults")
	pageSize := p.o.Conn.WithDefaults().PageSize
	switch {
	case hasEcho && echoed < maxAsk:
		p.rep.Inferred.PageCap = echoed
	case rows < maxAsk && rows < total:
		p.rep.Inferred.PageCap = rows
	}
	if cap := p.rep.Inferred.PageCap; cap > 0 {
		p.rep.Inferred.PageSize = min(pageSize, cap)
		p.add(Info, "page cap", fmt.Sprintf("asked max_results=%d, got %d rows and maxResults %d of %d: the server caps pages at %d rows: pageSize %d",
			maxAsk, rows, echoed, total, cap, p.rep.Inferred.PageSize))
		return
	}
	p.rep.Inferred.PageSize = pageSize
	p.add(Info, "page cap", fmt.Sprintf("asked max_results=%d, got %d of %d rows (maxResults %d): no cap seen", maxAsk, rows, total, echoed))
}

// checkFullRead reads every registration of the event through the client
// with the inferred settings, as sync-leads does: the client itself checks
// every envelope, the count against completeCollectionSize and repeats.
func (p *probe) checkFullRead(ctx context.Context) {
	c, err := p.client()
	if err != nil {
		p.add(Fail, "full read", err.Error())
		return
	}
	n, pages, total := 0, 0, 0
	for pg, err := range c.RegistrationPages(ctx, p.acct, p.event, certain.RegistrationQuery{}) {
		if err != nil {
			status := Fail
			if errors.Is(err, certain.ErrCollectionChanged) {
				status = Info
			}
			p.add(status, "full read", fmt.Sprintf("after %d rows: %v", n, err))
			return
		}
		pages++
		n += len(pg.Items)
		total = pg.Total
		for _, r := range pg.Items {
			if len(p.sample) < 200 {
				p.sample = append(p.sample, r.Fields)
			}
		}
	}
	p.total = n
	mode := p.effective().WithDefaults().PagingMode
	p.add(Pass, "full read", fmt.Sprintf("%d registrations in %d pages (pagingMode %s), completeCollectionSize %d, no row repeated", n, pages, mode, total))
	p.rec.reads["registrations"] = n
}

// compare lists the configured settings that differ from the inferred.
func (p *probe) compare() {
	conf, in := p.o.Conn.WithDefaults(), p.rep.Inferred
	diff := func(name, configured, inferred string) {
		if inferred != "" && configured != inferred {
			p.rep.Mismatches = append(p.rep.Mismatches, fmt.Sprintf("%s: configured %q, inferred %q", name, configured, inferred))
		}
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	diff("pagingMode", conf.PagingMode, in.PagingMode)
	diff("includeParam", or(conf.IncludeParam, config.DefaultIncludeParam), in.IncludeParam)
	diff("orderByParam", or(conf.OrderByParam, certain.DefaultOrderByParam), in.OrderByParam)
	diff("filterTimeFormat", or(conf.FilterTimeFormat, certain.FilterTimeFormat), in.FilterTimeFormat)
	diff("certainFields.tagsField", conf.CertainFields.Tags, in.CertainFields.TagsField)
	if in.PageCap > 0 && conf.PageSize > in.PageCap {
		p.rep.Mismatches = append(p.rep.Mismatches, fmt.Sprintf("pageSize: configured %d, the server caps pages at %d", conf.PageSize, in.PageCap))
	}
}
