package jobs

import (
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Marketo's 1003 reason has echoed the value sent since 2021 ("… and value
// '<value>'"); the run record keeps the field and the code, never the value.
func TestMarketo1003ReasonWithholdsTheValue(t *testing.T) {
	var lr leadResult
	(&leadOps{}).applySyncResult(&lr, ruleUpsert, marketo.SyncResult{Status: marketo.StatusSkipped,
		Reasons: []marketo.Reason{{Code: "1003", Message: "Invalid value for field 'alt_email' and value 'hidden.person@private.example'"}}})
	o := lr.Outcome
	if o.Outcome != store.OutcomeFailed || o.Code != "1003" || !strings.Contains(o.Reason, "'alt_email'") || strings.Contains(o.Reason, "hidden") {
		t.Errorf("outcome %+v", o)
	}
	code, msg := reasonOf([]marketo.Reason{{Code: "1003", Message: "Invalid value for field 'minutes' and value 'half an hour'"}})
	if code != "1003" || strings.Contains(msg, "half") || !strings.Contains(msg, "'minutes'") {
		t.Errorf("custom object reason %s %q", code, msg)
	}
}
