package jobs

import (
	"context"
	"maps"
	"slices"

	"github.com/certain-marketo/certain-marketo/lib/config"
)

// CustomObjectCheck is what a metrics job writes to its custom object, as
// planned from the object's describe by the same code the job runs first:
// the object, its link to the lead, and each written logical field with its
// custom object field and type.
type CustomObjectCheck struct {
	APIName   string
	LinkField string
	Dedupe    []string
	Fields    []CheckedField // by logical name
}

// CheckedField is one logical field a metrics job writes.
type CheckedField struct {
	Logical  string
	Field    string
	DataType string
}

// CheckCustomObject describes the custom object of an engagement-metrics or
// interest-metrics job and checks the job's fields against it (existence,
// the link to the lead, the dedupe fields, fitting types), as the job does
// before its first write. Problems are configuration errors (ErrConfig)
// naming the object and the field; cmctl probe-marketo reports them.
func CheckCustomObject(ctx context.Context, m Marketo, j config.Job) (CustomObjectCheck, error) {
	p := j.Params
	var co coPlan
	var err error
	switch j.Type {
	case config.TypeEngagementMetrics:
		plan := newEngagementPlan(p.Modules)
		if len(plan.Metrics) == 0 {
			return CustomObjectCheck{}, Configf("params.modules %q enable no engagement metric", p.Modules)
		}
		co, err = planCustomObject(ctx, m, j.WithDefaults().Params.CustomObject, p.Fields, engagementSpec(plan))
	case config.TypeInterestMetrics:
		co, err = planCustomObject(ctx, m, j.WithDefaults().Params.CustomObject, p.Fields, interestSpec())
	default:
		return CustomObjectCheck{}, Configf("job %q (%s) writes no custom object", j.ID, j.Type)
	}
	if err != nil {
		return CustomObjectCheck{}, err
	}
	out := CustomObjectCheck{APIName: co.APIName, LinkField: co.Fields[FieldLead], Dedupe: co.Dedupe}
	for _, l := range slices.Sorted(maps.Keys(co.Fields)) {
		f := co.Fields[l]
		out.Fields = append(out.Fields, CheckedField{Logical: l, Field: f, DataType: co.Types[f].DataType})
	}
	return out, nil
}
