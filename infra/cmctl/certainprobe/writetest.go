package certainprobe

import (
	"context"
	"fmt"

	"github.com/certain-marketo/certain-marketo/lib/certain"
)

// writeTest (--write-test, on a sandbox event) creates a profile and a
// registration the way import-leads does, updates the External Profile ID
// alone, re-reads the profile to confirm that an update merges (the other
// fields keep their values: rule C relies on it), then deletes both.
func (p *probe) writeTest(ctx context.Context) {
	c, err := p.client()
	if err != nil {
		p.add(Fail, "write test", err.Error())
		return
	}
	stamp := p.o.Now().UTC().Format("20060102T150405")
	fields := map[string]any{"email": "cm-probe-" + stamp + "@example.invalid", "firstName": "Probe", "lastName": "Certain-Marketo"}
	prof, err := c.CreateProfile(ctx, p.acct, fields)
	if err != nil {
		p.add(Fail, "write test: create profile", err.Error())
		return
	}
	p.add(Pass, "write test: create profile", fmt.Sprintf("profile %s created (the answer carries its pin)", prof.PIN))
	defer p.cleanProfile(ctx, c, prof.PIN)
	reg, err := c.CreateRegistration(ctx, p.acct, p.event, certain.NewRegistration{PIN: prof.PIN})
	if err != nil {
		p.add(Fail, "write test: create registration", err.Error())
		return
	}
	p.add(Pass, "write test: create registration", fmt.Sprintf("registration %s created for profile %s", reg.Code, prof.PIN))
	defer p.cleanRegistration(ctx, c, reg.Code)

	f := c.Fields()
	want := "probe-" + stamp
	if err := c.UpdateProfile(ctx, p.acct, prof.PIN, map[string]any{f.ExternalID: want}); err != nil {
		p.add(Fail, "write test: update", fmt.Sprintf("update of %s alone: %v", f.ExternalID, err))
		return
	}
	got, err := c.GetProfile(ctx, p.acct, prof.PIN)
	switch {
	case err != nil:
		p.add(Fail, "write test: update", "re-read: "+err.Error())
	case got.ExternalID != want:
		p.add(Fail, "write test: update", fmt.Sprintf("%s reads %q after writing %q: the field path does not round-trip (certainFields.externalIdField)", f.ExternalID, got.ExternalID, want))
	case got.Get("firstName") != "Probe" || got.Get("lastName") != "Certain-Marketo" || got.Email != fields["email"]:
		p.add(Fail, "write test: update", fmt.Sprintf("after updating %s alone, firstName %q, lastName %q: updates replace the profile instead of merging", f.ExternalID, got.Get("firstName"), got.Get("lastName")))
	default:
		p.add(Pass, "write test: update", fmt.Sprintf("%s written alone and read back; the other fields kept: updates merge", f.ExternalID))
	}
}

func (p *probe) cleanRegistration(ctx context.Context, c *certain.Client, code string) {
	if err := c.DeleteRegistration(context.WithoutCancel(ctx), p.acct, p.event, code); err != nil {
		p.add(Fail, "write test: delete registration", fmt.Sprintf("%v: delete registration %s by hand", err, code))
		return
	}
	p.add(Pass, "write test: delete registration", code+" deleted")
}

func (p *probe) cleanProfile(ctx context.Context, c *certain.Client, pin string) {
	if err := c.DeleteProfile(context.WithoutCancel(ctx), p.acct, pin); err != nil {
		p.add(Fail, "write test: delete profile", fmt.Sprintf("%v: delete profile %s by hand", err, pin))
		return
	}
	p.add(Pass, "write test: delete profile", pin+" deleted")
}
