package jobs

import (
	"context"
	"reflect"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// Rule C's write is mirrored in the registration it was given, on a copy of
// what it changes: a nested External Profile ID is set in a new object, the
// caller's maps keep their values, and the fields the write does not touch
// are the caller's own (shared, not copied).
func TestWriteBackMirrorsOnACopy(t *testing.T) {
	f := certain.Defaults()
	f.ExternalID = "ids.marketo"
	ct := newFakeCertain()
	ops := &leadOps{ct: ct, fields: f}
	address := map[string]any{"city": "Oslo"}
	ids := map[string]any{"marketo": "77", "crm": "C-1"}
	orig := map[string]any{"pin": "P-1", "ids": ids, "address": address, f.Source: f.SourceValueMarketo}
	r := certain.Registration{Code: "R-1", Profile: certain.Profile{PIN: "P-1", ExternalID: "77", Source: f.SourceValueMarketo, Fields: orig}}
	wb, err := ops.writeBack(context.Background(), &r, 1001)
	if err != nil || !wb.changed {
		t.Fatalf("writeBack = %+v, %v; want a change", wb, err)
	}
	if got := ct.updates["P-1"]; !reflect.DeepEqual(got, map[string]any{"ids.marketo": "1001"}) {
		t.Errorf("Certain got %v, want only the id", got)
	}
	if ids["marketo"] != "77" || len(orig) != 4 {
		t.Errorf("the caller's profile changed: %v", orig)
	}
	got, _ := certain.LookupPath(r.Profile.Fields, "ids.marketo")
	crm, _ := certain.LookupPath(r.Profile.Fields, "ids.crm")
	if got != "1001" || crm != "C-1" || r.Profile.ExternalID != "1001" {
		t.Errorf("mirrored profile %v (ExternalID %q), want ids.marketo 1001 beside ids.crm C-1", r.Profile.Fields, r.Profile.ExternalID)
	}
	if a, ok := r.Profile.Fields["address"].(map[string]any); !ok || reflect.ValueOf(a).UnsafePointer() != reflect.ValueOf(address).UnsafePointer() {
		t.Error("the untouched address was copied, not shared")
	}
}
