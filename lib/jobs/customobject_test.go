package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// describeOnly is a Marketo whose only working call is Describe.
type describeOnly struct {
	Marketo // nil: any other call panics, proving it was not made
	types   map[string]marketo.CustomObjectType
}

func (d describeOnly) DescribeCustomObject(_ context.Context, name string) (marketo.CustomObjectType, error) {
	t, ok := d.types[name]
	if !ok {
		return marketo.CustomObjectType{}, &marketo.Error{Code: "1013", Message: "not found"}
	}
	return t, nil
}

func coType(name string, dedupe []string, link string, fields ...string) marketo.CustomObjectType {
	t := marketo.CustomObjectType{Name: name, IDField: "marketoGUID", DedupeFields: dedupe, LinkField: link, LinkTo: "id"}
	for _, f := range append(fields, link) {
		t.Fields = append(t.Fields, marketo.CustomObjectField{Name: f})
	}
	return t
}

func TestPlanCustomObject(t *testing.T) {
	full := coType("CertainInterestPoints", []string{"interestKey"}, "leadID", "interestKey", "eventCode", "programName", "interest", "interestPoints")
	compound := coType("Compound", []string{"leadID", "programName", "interest"}, "leadID", "programName", "interest", "interestPoints")
	m := describeOnly{types: map[string]marketo.CustomObjectType{full.Name: full, compound.Name: compound}}
	spec := interestSpec()

	t.Run("defaults", func(t *testing.T) {
		p, err := planCustomObject(context.Background(), m, full.Name, nil, spec)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{FieldLead: "leadID", FieldKey: "interestKey", FieldEvent: "eventCode", FieldProgramName: "programName",
			FieldInterest: "interest", FieldPoints: "interestPoints"}
		if len(p.Fields) != len(want) {
			t.Fatalf("fields %v, want %v", p.Fields, want)
		}
		for k, v := range want {
			if p.Fields[k] != v {
				t.Errorf("field %s = %q, want %q", k, p.Fields[k], v)
			}
		}
		rec := p.record(map[string]any{FieldLead: 7, FieldKey: "HS26:7:AI", FieldInterest: "AI", "unmapped": 1})
		if p.key(rec) != "HS26:7:AI" || rec["unmapped"] != nil || rec["leadID"] != 7 {
			t.Errorf("record %v key %q", rec, p.key(rec))
		}
	})
	t.Run("compound dedupe, optional defaults absent", func(t *testing.T) {
		p, err := planCustomObject(context.Background(), m, compound.Name, nil, spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Fields[FieldKey]; ok {
			t.Errorf("optional key field sent although the object lacks it: %v", p.Fields)
		}
		rec := p.record(map[string]any{FieldLead: 7, FieldProgramName: "Summit", FieldInterest: "AI"})
		if p.key(rec) != "7|Summit|AI" {
			t.Errorf("compound key %q", p.key(rec))
		}
	})

	bad := []struct {
		name, object string
		fields       map[string]string
		want         string
	}{
		{"missing object", "Nope", nil, `custom object "Nope" does not exist`},
		{"missing mapped field", full.Name, map[string]string{FieldPoints: "score"}, `has no field "score"`},
		{"explicit optional field missing", compound.Name, map[string]string{FieldEvent: "eventCode"}, `has no field "eventCode"`},
		{"unknown logical name", full.Name, map[string]string{"pionts": "interestPoints"}, `unknown logical field "pionts"`},
		{"dedupe field not filled", full.Name, map[string]string{FieldKey: FieldDisabled}, `dedupes by "interestKey"`},
		{"lead is not the link", full.Name, map[string]string{FieldLead: "eventCode", FieldEvent: FieldDisabled}, `links to Lead through "leadID"`},
		{"two names one field", full.Name, map[string]string{FieldInterest: "programName"}, `both map to custom object field "programName"`},
		{"lead disabled", full.Name, map[string]string{FieldLead: FieldDisabled}, "cannot be disabled"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planCustomObject(context.Background(), m, tc.object, tc.fields, spec)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a configuration error containing %q", err, tc.want)
			}
		})
	}

	t.Run("engagement: disabled metric fields need not exist", func(t *testing.T) {
		plan := newEngagementPlan([]string{config.ModuleAgenda})
		eng := coType(DefaultEngagementObject, []string{"metricKey"}, "leadID", "metricKey", MetricSessionsRegistered, MetricSessionsAttended)
		m := describeOnly{types: map[string]marketo.CustomObjectType{eng.Name: eng}}
		p, err := planCustomObject(context.Background(), m, eng.Name, map[string]string{MetricAvgRatingGiven: "x"}, engagementSpec(plan))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Fields) != 4 {
			t.Errorf("fields %v, want lead, key and the two session metrics", p.Fields)
		}
		// Enabling a rating module needs the rating field.
		plan = newEngagementPlan([]string{config.ModuleAgenda, config.ModuleMobile})
		if _, err := planCustomObject(context.Background(), m, eng.Name, nil, engagementSpec(plan)); !errors.Is(err, ErrConfig) ||
			!strings.Contains(err.Error(), MetricAvgSessionRating) {
			t.Errorf("err = %v, want a configuration error naming %s", err, MetricAvgSessionRating)
		}
	})
}

func TestRecordHashStable(t *testing.T) {
	a := recordHash(marketo.Record{"x": 1, "y": nil, "z": 4.5})
	b := recordHash(marketo.Record{"z": 4.5, "y": nil, "x": 1})
	c := recordHash(marketo.Record{"x": 1, "y": nil, "z": 4.51})
	if a != b || a == c {
		t.Errorf("hashes %s %s %s: want equal for equal records, different otherwise", a, b, c)
	}
}
