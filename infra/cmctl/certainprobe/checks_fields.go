package certainprobe

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// checkFields looks for the configured field paths on the registrations
// the full read returned (profile fields in their embedded profile).
func (p *probe) checkFields() {
	if len(p.sample) == 0 {
		p.add(Info, "fields", "no registration to look at")
		return
	}
	f := p.o.Conn.CertainFields.WithDefaults()
	for _, fc := range []struct{ name, path, setting string }{
		{"External Profile ID", "profile." + f.ExternalID, "certainFields.externalIdField"},
		{"Source of Profile", "profile." + f.Source, "certainFields.sourceField"},
		{"registration status", f.RegistrationStatus, "certainFields.registrationStatusField"},
		{"complete", f.Complete, "certainFields.completeField"},
	} {
		present, kinds, values := 0, map[string]bool{}, map[string]bool{}
		for _, r := range p.sample {
			v, ok := certain.LookupPath(r, fc.path)
			if !ok {
				continue
			}
			present++
			kinds[kindOf(v)] = true
			if s := str(r, fc.path); s != "" && len(values) < 6 {
				values[s] = true
			}
		}
		if present == 0 {
			p.add(Fail, "field "+fc.name, fmt.Sprintf("%s (%s) is on none of %d registrations; keys seen: %s", fc.path, fc.setting, len(p.sample),
				candidates(p.sample, fc.path)))
			continue
		}
		p.add(Pass, "field "+fc.name, fmt.Sprintf("%s on %d of %d registrations, as %s; values %s", fc.path, present, len(p.sample),
			strings.Join(sortedKeys(kinds), "/"), strings.Join(sortedKeys(values), ", ")))
	}
	if _, ok := p.sample[0]["statusModified"]; ok {
		p.add(Info, "statusModified", "registrations carry statusModified: Certain keeps a status-change time apart from dateModified")
	}
}

// kindOf names a JSON value's type.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "list"
	}
	return "object"
}

// candidates lists the keys of the object a missing path would be in.
func candidates(sample []map[string]any, path string) string {
	var obj map[string]any = sample[0]
	if strings.HasPrefix(path, "profile.") {
		obj, _ = sample[0]["profile"].(map[string]any)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// tagShape describes where a page's rows keep their tags: the field path,
// the element shape, the key holding an object's name.
type tagShape struct {
	field, shape, nameKey string
	rows, tagged          int
}

// findTags looks for tags on rows under the configured field and the
// candidates of docs/certain.md §5.4.
func findTags(rows []map[string]any, configured string) tagShape {
	ts := tagShape{rows: len(rows)}
	for _, field := range slices.Compact([]string{configured, "tag", "tags", "tags.tag"}) {
		for _, r := range rows {
			v, ok := certain.LookupPath(r, field)
			if !ok || v == nil {
				continue
			}
			if ts.field == "" {
				ts.field = field
			}
			if ts.field != field {
				continue
			}
			ts.tagged++
			ts.describe(v)
		}
		if ts.field != "" {
			return ts
		}
	}
	return ts
}

// describe records the element shape of one tags value.
func (ts *tagShape) describe(v any) {
	list, ok := v.([]any)
	if !ok {
		if m, isObj := v.(map[string]any); isObj && len(m) == 1 {
			ts.shape = "a wrapper object"
			return
		}
		list = []any{v}
	}
	for _, e := range list {
		switch x := e.(type) {
		case string:
			ts.shape = "strings"
		case map[string]any:
			ts.shape = "objects"
			for _, k := range []string{"name", "tagName"} {
				if _, ok := x[k]; ok && ts.nameKey == "" {
					ts.nameKey = k
				}
			}
			if ts.nameKey == "" {
				for k, kv := range x {
					if _, isStr := kv.(string); isStr {
						ts.nameKey = k
						break
					}
				}
			}
		}
	}
}

// checkTags finds the include parameter's spelling and the tags field of
// agenda items (and sessions), then reads them through the client.
func (p *probe) checkTags(ctx context.Context) {
	conf := p.o.Conn.CertainFields.WithDefaults().Tags
	path := p.raw.v1("AgendaItem", p.acct, p.event)
	found := map[string]tagShape{}
	var order []string
	for _, param := range p.spellings(p.o.Conn.IncludeParam, "includeList", "includeList", "include_list") {
		a, err := p.raw.page(ctx, path, url.Values{param: {"tags"}, "isActive": {"true"}}, firstIndex(p.rep.Inferred.PagingMode), sampleSize)
		if err != nil || a.status != http.StatusOK {
			continue
		}
		order = append(order, param)
		found[param] = findTags(a.rows(), conf)
	}
	if len(order) == 0 {
		p.add(Info, "agenda item tags", "the event has no active agenda items")
	} else {
		p.inferTags(order, found)
	}
	p.readTagged(ctx)
}

// inferTags turns what each include spelling showed into settings.
func (p *probe) inferTags(order []string, found map[string]tagShape) {
	var with []string
	for _, param := range order {
		if found[param].field != "" {
			with = append(with, param)
		}
	}
	if len(with) == 0 {
		p.add(Info, "agenda item tags", fmt.Sprintf("no agenda item carries tags (tried %s, with %s)", "tag, tags, tags.tag", strings.Join(order, " and ")))
		return
	}
	ts := found[with[0]]
	in := &p.rep.Inferred
	in.IncludeParam, in.CertainFields.TagsField = with[0], ts.field
	if ts.shape == "objects" {
		in.CertainFields.TagNameKey = ts.nameKey
	}
	ignored := ""
	if len(with) < len(order) {
		ignored = fmt.Sprintf("; the other spelling returns no tags")
	}
	p.add(Pass, "agenda item tags", fmt.Sprintf("%s=tags: %d of %d items carry tags in %q, as %s%s", with[0], ts.tagged, ts.rows, ts.field, ts.shape, ignored))
}

// readTagged reads agenda items and sessions through the client with the
// inferred settings, as interest-metrics does.
func (p *probe) readTagged(ctx context.Context) {
	c, err := p.client()
	if err != nil {
		p.add(Fail, "agenda items", err.Error())
		return
	}
	items, tagged := 0, 0
	for pg, err := range c.AgendaItemPages(ctx, p.acct, p.event) {
		if err != nil {
			p.add(Fail, "agenda items", err.Error())
			return
		}
		for _, it := range pg.Items {
			items++
			if len(it.Tags) > 0 {
				tagged++
			}
		}
	}
	p.rec.reads["agendaItems"] = items
	p.add(Pass, "agenda items", fmt.Sprintf("the client reads %d active agenda items, %d with tags", items, tagged))
	sessions, stagged := 0, 0
	for pg, err := range c.SessionPages(ctx, p.acct, p.event) {
		if err != nil {
			p.add(Info, "sessions", "Standard 2.0 sessions: "+err.Error())
			return
		}
		for _, s := range pg.Items {
			sessions++
			if len(s.Tags) > 0 {
				stagged++
			}
		}
	}
	p.rec.reads["sessions"] = sessions
	p.add(Info, "sessions", fmt.Sprintf("the client reads %d Standard 2.0 sessions, %d with tags", sessions, stagged))
}

// checkAppointments reports the appointment sources and statuses in use
// against the configured vocabularies.
func (p *probe) checkAppointments(ctx context.Context) {
	c, err := p.client()
	if err != nil {
		return
	}
	f := c.Fields()
	sources, statuses := map[string]bool{}, map[string]bool{}
	n := 0
	for pg, err := range c.AppointmentPages(ctx, p.acct, p.event, 0) {
		if err != nil {
			p.add(Info, "appointments", err.Error())
			return
		}
		for _, a := range pg.Items {
			n++
			sources[a.Source], statuses[a.Status] = true, true
		}
	}
	p.rec.reads["appointments"] = n
	known := slices.Concat(f.AppointmentSSA, f.AppointmentMatched)
	var unknown []string
	for s := range sources {
		if !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, s) }) {
			unknown = append(unknown, s)
		}
	}
	sort.Strings(unknown)
	detail := fmt.Sprintf("%d appointments; sources %s; statuses %s", n, strings.Join(sortedKeys(sources), ", "), strings.Join(sortedKeys(statuses), ", "))
	if len(unknown) > 0 {
		detail += fmt.Sprintf("; sources in neither appointmentSourceSSA nor appointmentSourceMatched: %s", strings.Join(unknown, ", "))
	}
	p.add(Info, "appointments", detail)
}
