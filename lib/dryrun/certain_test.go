package dryrun_test

import (
	"context"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
	"github.com/certain-marketo/certain-marketo/lib/dryrun"
)

// The twin's whole-account profile read is what the plan's searches see:
// Certain's profiles with the plan's updates, then the profiles the plan
// created, and CountProfiles counts them.
func TestTwinProfileReadShowsThePlan(t *testing.T) {
	srv := certaintest.NewServer(t)
	pin := srv.AddProfile("ACME", map[string]any{"email": "old@x.example"})
	srv.AddProfile("ACME", map[string]any{"email": "other@x.example"})
	c, err := certain.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	twin := dryrun.NewCertain(c, dryrun.NewLog())
	ctx := context.Background()
	ext := c.Fields().WithDefaults().ExternalID
	if err := twin.UpdateProfile(ctx, "ACME", pin, map[string]any{ext: "501"}); err != nil {
		t.Fatal(err)
	}
	created, err := twin.CreateProfile(ctx, "ACME", map[string]any{"email": "new@x.example", ext: "502"})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := twin.CountProfiles(ctx, "ACME")
	if err != nil || pc.Total != 3 || pc.Pages != 1 {
		t.Fatalf("count %+v %v, want 3 profiles in 1 page", pc, err)
	}
	var got []certain.Profile
	for p, err := range twin.ProfilePages(ctx, "ACME") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Items...)
	}
	if len(got) != 3 || got[0].PIN != pin || got[0].ExternalID != "501" || got[2].PIN != created.PIN || got[2].ExternalID != "502" {
		t.Errorf("profiles %+v, want the updated one, the other, then the created one", got)
	}
	if len(srv.Calls()) != 2 {
		t.Errorf("%d calls to Certain, want the count and the one page (no write)", len(srv.Calls()))
	}
}
