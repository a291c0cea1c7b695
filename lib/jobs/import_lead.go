package jobs

// One lead's import: matched to a Certain profile (by Marketo id, then
// email) or created as one, then, for import-leads, registered for the
// event unless it already is.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// handle imports one lead. Per-record problems become outcomes; the error
// is for what must stop the run (Certain down or refusing us, ctx ended).
func (im *importer) handle(ctx context.Context, lead marketo.Lead) error {
	id := lead.ID()
	key := strconv.Itoa(id)
	email := strings.TrimSpace(lead.Email())
	switch {
	case id <= 0:
		im.record(store.RecordOutcome{Key: "(no id)", Email: email, Outcome: store.OutcomeSkipped, Reason: fmt.Sprintf("lead has no Marketo id (id field %v)", lead["id"])})
		return nil
	case email == "":
		im.record(store.RecordOutcome{Key: key, Outcome: store.OutcomeSkipped, Reason: "lead has no email address"})
		return nil
	case !plausibleEmail(email):
		im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeSkipped, Reason: fmt.Sprintf("email %q is not an address", email)})
		return nil
	}
	ek := strings.ToLower(email)
	unlock := im.emailLocks.lock(ek)
	defer unlock()

	if im.withReg {
		// Registered already, known from the registration index: no call.
		if pin, ok := im.registeredByExt(key); ok {
			im.rc.Run.Add(CountProfilesMatchedByID, 1)
			im.already(key, email, pin, "matched by Marketo id")
			return nil
		}
		if ref, ok := im.registeredByEmail(ek); ok && ref.ExternalID != "" {
			im.rc.Run.Add(CountProfilesMatchedByEmail, 1)
			im.already(key, email, ref.PIN, "matched by email")
			return nil
		}
	}
	ref, how, err := im.resolve(ctx, lead, key, email, ek)
	if err != nil {
		return im.recordErr(key, email, "profile", err)
	}
	if !im.withReg {
		switch how {
		case "created":
			im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeCreated, Reason: "profile " + ref.PIN + " created"})
		case "linked":
			im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeUpdated, Reason: "profile " + ref.PIN + " matched by email; External Profile ID set"})
		default:
			im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeUnchanged})
		}
		return nil
	}
	return im.register(ctx, key, email, ref, how)
}

func (im *importer) registeredByExt(leadID string) (string, bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	pin, ok := im.regByExt[leadID]
	return pin, ok
}

func (im *importer) registeredByEmail(ek string) (profileRef, bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	ref, ok := im.regByEmail[ek]
	return ref, ok
}

// resolve finds the lead's profile: by Marketo id first (External Profile
// ID with Source = Marketo), then by email (case-insensitive), else creates
// it. A profile matched by email with a blank External Profile ID gets the
// lead id and Source = Marketo. how is "id", "email", "linked" or "created".
func (im *importer) resolve(ctx context.Context, lead marketo.Lead, key, email, ek string) (profileRef, string, error) {
	ps, err := im.ce.FindProfiles(ctx, im.acct, im.fields.ExternalID, key)
	if err != nil {
		return profileRef{}, "", fmt.Errorf("find profile by %s=%s: %w", im.fields.ExternalID, key, err)
	}
	for _, p := range ps {
		if p.ExternalID == key && strings.EqualFold(p.Source, im.fields.SourceValueMarketo) {
			ref := profileRef{PIN: p.PIN, ExternalID: key}
			im.learn(p.Email, ref)
			im.rc.Run.Add(CountProfilesMatchedByID, 1)
			return ref, "id", nil
		}
	}

	ref, ok, err := im.findByEmail(ctx, email, ek)
	if err != nil {
		return profileRef{}, "", err
	}
	if ok {
		im.rc.Run.Add(CountProfilesMatchedByEmail, 1)
		if ref.ExternalID != "" {
			return ref, "email", nil
		}
		link := map[string]any{im.fields.ExternalID: key, im.fields.Source: im.fields.SourceValueMarketo}
		if err := im.ce.UpdateProfile(ctx, im.acct, ref.PIN, link); err != nil {
			return profileRef{}, "", fmt.Errorf("set External Profile ID of profile %s: %w", ref.PIN, err)
		}
		ref.ExternalID = key
		im.learn(ek, ref)
		im.rc.Run.Add(CountProfilesLinked, 1)
		return ref, "linked", nil
	}

	p, err := im.ce.CreateProfile(ctx, im.acct, profileBody(lead, email, key, im.mapping, im.fields))
	if err != nil {
		return profileRef{}, "", fmt.Errorf("create profile: %w", err)
	}
	ref = profileRef{PIN: p.PIN, ExternalID: key}
	im.learn(ek, ref)
	im.rc.Run.Add(CountProfilesCreated, 1)
	return ref, "created", nil
}

// findByEmail looks in what this run learned, then among registered
// profiles, then asks Certain. Certain's email search is taken to be
// case-insensitive (the simulator's behaviour); for a tenant where it is
// not, a mixed-case email is searched again in lower case.
func (im *importer) findByEmail(ctx context.Context, email, ek string) (profileRef, bool, error) {
	im.mu.Lock()
	ref, ok := im.byEmail[ek]
	if !ok {
		ref, ok = im.regByEmail[ek]
	}
	im.mu.Unlock()
	if ok {
		return ref, true, nil
	}
	tries := []string{email}
	if ek != email {
		tries = append(tries, ek)
	}
	for _, q := range tries {
		ps, err := im.ce.FindProfiles(ctx, im.acct, "email", q)
		if err != nil {
			return profileRef{}, false, fmt.Errorf("find profile by email: %w", err)
		}
		for _, p := range ps {
			if strings.EqualFold(strings.TrimSpace(p.Email), email) {
				ref := profileRef{PIN: p.PIN, ExternalID: p.ExternalID}
				im.learn(ek, ref)
				return ref, true, nil
			}
		}
	}
	return profileRef{}, false, nil
}

// learn remembers a profile under its email for the rest of the run. The
// first profile learned for an email stays (Certain's oldest-first order).
func (im *importer) learn(email string, ref profileRef) {
	ek := strings.ToLower(strings.TrimSpace(email))
	if ek == "" {
		return
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if cur, ok := im.byEmail[ek]; !ok || cur.PIN == ref.PIN {
		im.byEmail[ek] = ref
	}
}

func (im *importer) register(ctx context.Context, key, email string, ref profileRef, how string) error {
	unlock := im.pinLocks.lock(ref.PIN)
	defer unlock()
	ek := strings.ToLower(email)
	im.mu.Lock()
	already := im.registered[ref.PIN]
	other, emailRegistered := im.regByEmail[ek]
	im.mu.Unlock()
	if already {
		im.already(key, email, ref.PIN, howText(how))
		return nil
	}
	if emailRegistered {
		// Matched both ways: by id to one profile, by email to another
		// that is registered. The lead is registered; do not add a second.
		im.already(key, email, other.PIN, "its email matches this registered profile")
		return nil
	}
	reg, err := im.ce.CreateRegistration(ctx, im.acct, im.event, certain.NewRegistration{PIN: ref.PIN, Status: im.status, AttendeeType: im.attType})
	if err != nil {
		return im.recordErr(key, email, "registration", fmt.Errorf("register profile %s: %w", ref.PIN, err))
	}
	im.mu.Lock()
	im.registered[ref.PIN] = true
	if _, ok := im.regByEmail[ek]; !ok {
		im.regByEmail[ek] = ref
	}
	if _, ok := im.regByExt[key]; !ok {
		im.regByExt[key] = ref.PIN
	}
	im.mu.Unlock()
	im.rc.Run.Add(CountRegistrationsCreated, 1)
	im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeCreated,
		Reason: fmt.Sprintf("registration %s for profile %s (%s)", reg.Code, ref.PIN, howText(how))})
	return nil
}

func howText(how string) string {
	switch how {
	case "id":
		return "matched by Marketo id"
	case "email":
		return "matched by email"
	case "linked":
		return "matched by email; External Profile ID set"
	}
	return "profile created"
}

func (im *importer) already(key, email, pin, why string) {
	im.rc.Run.Add(CountAlreadyRegistered, 1)
	im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeUnchanged,
		Reason: fmt.Sprintf("already registered (profile %s, %s)", pin, why)})
}

func (im *importer) record(o store.RecordOutcome) { im.rc.Run.Record(o) }

// recordErr turns a Certain answer about this record (a 4xx other than
// auth, throttling and timeouts) into the lead's outcome and returns nil;
// anything else stops the run and is returned. A rejected profile create is
// a skip (Certain refused the lead's data, e.g. its email); other refusals
// are failures with Certain's status as code.
func (im *importer) recordErr(key, email, what string, err error) error {
	var ce *certain.Error
	if !errors.As(err, &ce) || !recordLevel(ce.Status) {
		return fmt.Errorf("import: lead %s: %w", key, err)
	}
	outcome := store.OutcomeFailed
	if what == "profile" && ce.Status == http.StatusBadRequest {
		outcome = store.OutcomeSkipped
	}
	im.record(store.RecordOutcome{Key: key, Email: email, Outcome: outcome,
		Reason: "Certain refused the " + what + ": " + err.Error(), Code: strconv.Itoa(ce.Status)})
	return nil
}

func recordLevel(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}
