package jobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/fieldtype"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Typed values (docs/jobs.md §9). Certain gives strings, booleans and
// numbers; Marketo checks every value against its field's dataType and skips
// a record whose value does not fit. So every payload is converted with
// lib/fieldtype before it is sent: leads (sync-leads, trigger-campaign's lead
// sync, the lead creation of the lead resolution) by the lead describe the
// jobs read anyway, custom object records by the object's describe. A value
// that cannot be converted fails its own record, with a reason naming the
// Certain and Marketo fields, the value's shape and the Marketo type (never
// the value), code CodeType; the rest of the batch goes. The import's
// reverse mapping converts the other way (fieldtype.ToCertain).

// CodeType is the outcome code of a record failed because a value does not
// fit its Marketo field's type. It is permanent for retryFailuresAfter: the
// same data fails the same way.
const CodeType = "type"

// leadSchema is the lead describe by REST name.
type leadSchema map[string]marketo.LeadField

func newLeadSchema(fields []marketo.LeadField) leadSchema {
	s := make(leadSchema, len(fields))
	for _, f := range fields {
		s[f.Name] = f
	}
	return s
}

// field is the conversion target of a lead field.
func (s leadSchema) field(name string) (fieldtype.Field, bool) {
	f, ok := s[name]
	return fieldtype.Field{Name: f.Name, DataType: f.DataType, Length: f.MaxLength}, ok
}

// convertFailure is a value that does not fit its Marketo field.
type convertFailure struct {
	certain string // the Certain field (or logical metric) it came from
	err     *fieldtype.Error
}

// reason is the per-record reason: both fields, the type and the shape.
func (f *convertFailure) reason() string {
	return fmt.Sprintf("Certain field %q: %v; the record was not sent", f.certain, f.err)
}

// certainOf returns, per Marketo field of the mapping, the Certain field
// that fills it.
func (o *leadOps) certainOf(marketoField string) string {
	for _, m := range o.mapping {
		if m.Marketo == marketoField {
			return m.Certain
		}
	}
	return marketoField // email: the profile's own
}

// describe reads the lead describe once per leadOps (trigger-campaign
// hands in a cached one). Batches of a run running at once share it.
func (o *leadOps) describe(ctx context.Context) (leadSchema, error) {
	if err := o.describing.lock(ctx); err != nil {
		return nil, err
	}
	defer o.describing.unlock()
	if o.schema != nil {
		return o.schema, nil
	}
	if rc := o.run; rc != nil {
		// The run's batches (each with its leadOps) may run at once: the
		// first reads the describe, the others wait for it.
		if err := rc.describing.lock(ctx); err != nil {
			return nil, err
		}
		defer rc.describing.unlock()
		rc.schemaMu.Lock()
		o.schema = rc.leadSchema
		rc.schemaMu.Unlock()
		if o.schema != nil {
			return o.schema, nil
		}
	}
	fields, err := o.mk.DescribeLeads(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe Marketo lead fields: %w", err)
	}
	o.schema, o.described = newLeadSchema(fields), true
	if o.run != nil {
		o.run.keepSchema(o)
	}
	return o.schema, nil
}

// typed converts a built lead payload to its fields' types, in field-name
// order; the first value that does not fit is the record's failure. A field
// the describe lacks goes as it is (checkMapping has refused unknown mapped
// fields before anything is sent).
func (o *leadOps) typed(payload marketo.Lead) (marketo.Lead, *convertFailure) {
	out := make(marketo.Lead, len(payload))
	for _, k := range slices.Sorted(maps.Keys(payload)) {
		f, known := o.schema.field(k)
		if !known {
			out[k] = payload[k]
			continue
		}
		v, err := fieldtype.Convert(payload[k], f, o.overflow)
		var fe *fieldtype.Error
		if errors.As(err, &fe) {
			return nil, &convertFailure{certain: o.certainOf(k), err: fe}
		}
		out[k] = v
	}
	return out, nil
}

// typedForCreate converts the payload of a lead the lead resolution
// creates only to learn its id: a value that does not fit, or a field the
// describe lacks, is left out (and named in left) rather than failing the
// lead, so the campaign or metric that needs the id still gets it.
func (o *leadOps) typedForCreate(payload marketo.Lead) (out marketo.Lead, left []string) {
	out = make(marketo.Lead, len(payload))
	for _, k := range slices.Sorted(maps.Keys(payload)) {
		f, known := o.schema.field(k)
		if !known {
			left = append(left, k)
			continue
		}
		v, err := fieldtype.Convert(payload[k], f, o.overflow)
		if err != nil {
			left = append(left, k)
			continue
		}
		out[k] = v
	}
	return out, left
}

// checkTypes reports mapped fields whose Certain values can never fit their
// Marketo field (fieldtype.Fits, for the Certain fields whose type is known).
func (o *leadOps) checkTypes(s leadSchema) []string {
	var bad []string
	for _, m := range o.mapping {
		f, ok := s[m.Marketo]
		if !ok {
			continue
		}
		if k := fieldtype.CertainKind(m.Certain); !fieldtype.Fits(k, f.DataType) {
			bad = append(bad, fmt.Sprintf("Marketo field %q (%s) cannot take Certain field %q (%s values)", m.Marketo, f.DataType, m.Certain, k))
		}
	}
	return bad
}

// logicalKind is the kind of value a metrics job writes for a logical
// field: the lead link and the counts are whole numbers, averages and points
// may have a fraction, the rest is text.
func logicalKind(logical string) fieldtype.Kind {
	switch logical {
	case FieldLead, MetricSessionsRegistered, MetricSessionsAttended, MetricSSAAppointments, MetricMatchedAppointments,
		MetricAppointmentsScheduled, MetricAppointmentsAttended:
		return fieldtype.KindInteger
	case FieldPoints, MetricAvgSessionRating, MetricAvgRatingReceived, MetricAvgRatingGiven:
		return fieldtype.KindNumber
	}
	return fieldtype.KindText
}

// typed converts a custom object record to the object's field types; the
// first value that does not fit is the record's failure.
func (p coPlan) typed(r marketo.Record, o fieldtype.Overflow) (marketo.Record, *convertFailure) {
	out := make(marketo.Record, len(r))
	for _, k := range slices.Sorted(maps.Keys(r)) {
		f, known := p.Types[k]
		if !known {
			out[k] = r[k]
			continue
		}
		v, err := fieldtype.Convert(r[k], f, o)
		var fe *fieldtype.Error
		if errors.As(err, &fe) {
			return nil, &convertFailure{certain: p.logicalOf(k), err: fe}
		}
		out[k] = v
	}
	return out, nil
}

// logicalOf names the logical field a custom object field is filled from.
func (p coPlan) logicalOf(field string) string {
	for l, f := range p.Fields {
		if f == field {
			return l
		}
	}
	return field
}

// checkCOType reports a logical field whose values can never fit the custom
// object field it is mapped to.
func checkCOType(apiName, logical string, f marketo.CustomObjectField) error {
	if k := logicalKind(logical); !fieldtype.Fits(k, f.DataType) {
		return Configf("custom object %q field %q is %s, which cannot hold %s (%s values)", apiName, f.Name, f.DataType, logical, k)
	}
	return nil
}

// joinLeft names the fields left out of a created lead.
func joinLeft(left []string) string { return strings.Join(left, ", ") }
