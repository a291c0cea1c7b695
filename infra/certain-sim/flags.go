package main

import (
	"flag"
	"fmt"
	"slices"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// simFlags are the simulator's tenant variants (certaintest options), one
// flag each. Their defaults follow the recorded evidence (docs/certain.md
// §8): tags in "tag", creates answering 200, servlet error pages.
type simFlags struct {
	paging       string
	lenient      bool
	pageCap      int
	createStatus int
	tagsField    string
	tagShape     string
	errorFormat  string
	orderByParam string
	includeParam string
}

func (o *simFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.paging, "paging", certain.PagingOffset0, "start_index mode: offset0, offset1, page1, none")
	fs.BoolVar(&o.lenient, "lenient", false, "a 1-based server answers start_index=0 as its first page instead of 400")
	fs.IntVar(&o.pageCap, "page-cap", 0, "silently cap max_results at N, echoing the cap in maxResults (0 = no cap)")
	fs.IntVar(&o.createStatus, "create-status", 200, "status of a successful create: 200 or 201")
	fs.StringVar(&o.tagsField, "tags-field", "tag", "field holding agenda item and session tags: tag or tags")
	fs.StringVar(&o.tagShape, "tag-shape", certaintest.TagStrings, "tag elements: strings, objects ({name}) or wrapped ({tag: [...]})")
	fs.StringVar(&o.errorFormat, "error-format", certaintest.ErrorServlet, "error bodies: servlet (an HTML error page) or json")
	fs.StringVar(&o.orderByParam, "order-by-param", "", "honour only this sort parameter: orderBy or order_by (default both)")
	fs.StringVar(&o.includeParam, "include-param", "", "honour only this include parameter: includeList or include_list (default both)")
}

// options checks the flags and returns the simulator options they stand for.
func (o simFlags) options() ([]certaintest.Option, error) {
	checks := []struct {
		name, got string
		allowed   []string
	}{
		{"-paging", o.paging, certain.PagingModes()},
		{"-tags-field", o.tagsField, []string{"tag", "tags"}},
		{"-tag-shape", o.tagShape, []string{certaintest.TagStrings, certaintest.TagObjects, certaintest.TagWrapped}},
		{"-error-format", o.errorFormat, []string{certaintest.ErrorServlet, certaintest.ErrorJSON}},
		{"-order-by-param", o.orderByParam, []string{"", "orderBy", "order_by"}},
		{"-include-param", o.includeParam, []string{"", "includeList", "include_list"}},
	}
	for _, c := range checks {
		if !slices.Contains(c.allowed, c.got) {
			return nil, fmt.Errorf("%s %q is not one of %q", c.name, c.got, c.allowed)
		}
	}
	if o.createStatus != 200 && o.createStatus != 201 {
		return nil, fmt.Errorf("-create-status %d is not 200 or 201", o.createStatus)
	}
	if o.pageCap < 0 {
		return nil, fmt.Errorf("-page-cap %d is negative", o.pageCap)
	}
	opts := []certaintest.Option{
		certaintest.WithPagingMode(o.paging), certaintest.WithCreateStatus(o.createStatus),
		certaintest.WithTagsField(o.tagsField), certaintest.WithTagShape(o.tagShape), certaintest.WithErrorFormat(o.errorFormat),
	}
	if o.lenient {
		opts = append(opts, certaintest.WithLenient())
	}
	if o.pageCap > 0 {
		opts = append(opts, certaintest.WithPageSizeCap(o.pageCap))
	}
	if o.orderByParam != "" {
		opts = append(opts, certaintest.WithOrderByParam(o.orderByParam))
	}
	if o.includeParam != "" {
		opts = append(opts, certaintest.WithIncludeParam(o.includeParam))
	}
	return opts, nil
}
