package demodata_test

import (
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/marketo/marketotest"
	"github.com/certain-marketo/certain-marketo/lib/testkit/demodata"
)

// The Marketo side lands in the simulator with the ids the Certain side
// already holds, the list's members and the campaigns.
func TestSeedMarketoKeepsLeadIDs(t *testing.T) {
	d := demodata.Demo()
	s := marketotest.NewServer(t)
	if err := d.SeedMarketo(s); err != nil {
		t.Fatalf("SeedMarketo: %v", err)
	}
	if got, want := len(s.Leads()), len(d.Marketo.Leads); got != want {
		t.Fatalf("simulator holds %d leads, data set has %d", got, want)
	}
	for _, l := range d.Marketo.Leads {
		found := false
		for _, sl := range s.LeadsByEmail(l.Email) {
			if sl.ID() == l.ID {
				found = true
			}
		}
		if !found {
			t.Fatalf("lead %d <%s> not in the simulator under its id", l.ID, l.Email)
		}
	}
}
