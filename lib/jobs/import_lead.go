package jobs

// One lead's import: matched to a Certain profile (by Marketo id, then
// email) or created as one, then, for import-leads, registered for the
// event unless it already is.

import (
	"cmp"
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

// handle imports one lead, in its turn among the leads sharing its
// e-mail (processPage). Per-record problems become outcomes; the error is
// for what must stop the run (Certain down or refusing us, ctx ended).
func (im *importer) handle(ctx context.Context, lead marketo.Lead) error {
	id := lead.ID()
	key := strconv.Itoa(id)
	email := strings.TrimSpace(lead.Email())
	if id <= 0 {
		im.record(store.RecordOutcome{Key: "(no id)", Email: email, Outcome: store.OutcomeSkipped, Reason: fmt.Sprintf("lead has no Marketo id (id field %v)", lead["id"])})
		return nil
	}
	// A lead without a usable e-mail is still matched by its Marketo id;
	// only creating a profile needs the e-mail.
	usable := email != "" && plausibleEmail(email)
	ek := emailKeyOf(lead)
	// Registered already, known from the registration index: no call. The
	// profile is this lead's for the run (claim), so a later lead sharing
	// the address is not relinked over it.
	switch ref, how, ok := im.registeredMatch(key, ek); {
	case ok && how == "id":
		im.claim(ref.PIN, key)
		im.rc.Run.Add(CountProfilesMatchedByID, 1)
		im.already(key, email, ref.PIN, "matched by Marketo id")
		return nil
	case ok:
		im.claim(ref.PIN, key)
		im.rc.Run.Add(CountProfilesMatchedByEmail, 1)
		im.already(key, email, ref.PIN, "matched by email"+im.keptNote(ref))
		return nil
	}
	m, err := im.resolve(ctx, lead, key, email, usable)
	if err != nil {
		return im.recordErr(key, email, "profile", err)
	}
	if m.skip != "" {
		im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeSkipped, Reason: m.skip})
		return nil
	}
	if !im.withReg {
		im.recordProfile(key, email, m)
		return nil
	}
	return im.register(ctx, key, email, ek, m)
}

// registeredMatch answers an import-leads lead from the registration index
// alone: a registered profile settled for the lead (how "id" or "email").
func (im *importer) registeredMatch(key, ek string) (ref profileRef, how string, ok bool) {
	if !im.withReg {
		return profileRef{}, "", false
	}
	if ref, ok := im.registeredByExt(key); ok && im.settled(ref, key) {
		return ref, "id", true
	}
	if ref, ok := im.registeredByEmail(ek); ok && ref.ExternalID != "" && im.settled(ref, key) {
		return ref, "email", true
	}
	return profileRef{}, "", false
}

// recordProfile records import-profiles' outcome of one lead.
func (im *importer) recordProfile(key, email string, m profileMatch) {
	switch {
	case m.how == "created":
		im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeCreated, Reason: "profile " + m.ref.PIN + " created"})
	case m.wrote:
		im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeUpdated, Reason: "profile " + m.ref.PIN + " " + howText(m.how)})
	default:
		im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeUnchanged, Reason: strings.TrimPrefix(m.note, "; ")})
	}
}

// settled reports whether a profile found for lead key needs no write: it
// holds the lead's id with Source of Profile exactly Marketo, or another
// system's id the connection keeps.
func (im *importer) settled(ref profileRef, key string) bool {
	return (ref.ExternalID == key && ref.Exact) || (im.foreign(ref) && !im.overwriteForeign)
}

// foreign reports whether the profile's External Profile ID belongs to
// another system.
func (im *importer) foreign(ref profileRef) bool {
	return foreignID(im.fields, certain.Profile{ExternalID: ref.ExternalID, Source: ref.Source})
}

// keptNote says that another system's id was left on the profile.
func (im *importer) keptNote(ref profileRef) string {
	if !im.foreign(ref) || im.overwriteForeign {
		return ""
	}
	im.rc.Run.Add(CountForeignIdsKept, 1)
	return fmt.Sprintf("; its External Profile ID %q belongs to source %q and was kept (overwriteForeignExternalIds is off)", ref.ExternalID, ref.Source)
}

func (im *importer) registeredByExt(leadID string) (profileRef, bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	ref, ok := im.regByExt[leadID]
	return ref, ok
}

func (im *importer) registeredByEmail(ek string) (profileRef, bool) {
	if ek == "" {
		return profileRef{}, false
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	ref, ok := im.regByEmail[ek]
	return ref, ok
}

// profileMatch is the profile a lead resolved to, and how: "id", "email",
// "linked" (blank External Profile ID set), "relinked" (another Marketo id
// replaced) or "created"; wrote says whether the profile was written; skip
// is the reason the lead has no profile.
type profileMatch struct {
	ref   profileRef
	how   string
	wrote bool
	note  string // for the outcome: what was left as it was
	skip  string
}

// resolve finds the lead's profile: by Marketo id first (External Profile
// ID = the lead id with Source of Profile Marketo or blank), then by
// email (case-insensitive), else creates it. The profile found ends with
// External Profile ID = the lead id and Source of Profile = exactly
// Marketo, written when either differs, unless its id belongs to another
// system and the connection keeps those. A profile is never created while
// another holds the lead id, and not without an email.
func (im *importer) resolve(ctx context.Context, lead marketo.Lead, key, email string, usable bool) (profileMatch, error) {
	refs, err := im.profilesByID(ctx, key)
	if err != nil {
		return profileMatch{}, err
	}
	byID, holder := im.pickByID(refs, key)
	if byID != nil {
		im.rc.Run.Add(CountProfilesMatchedByID, 1)
		return im.adopt(ctx, *byID, key, "id")
	}
	if usable {
		ref, ok, err := im.findByEmail(ctx, email, strings.ToLower(email))
		if err != nil {
			return profileMatch{}, err
		}
		if ok {
			im.rc.Run.Add(CountProfilesMatchedByEmail, 1)
			return im.adopt(ctx, ref, key, "email")
		}
	}
	switch {
	case holder != nil:
		return profileMatch{skip: fmt.Sprintf("profile %s holds this lead's id %s as External Profile ID of source %q: not creating a second profile with it", holder.PIN, key, holder.Source)}, nil
	case email == "":
		return profileMatch{skip: "lead has no email address, and no profile holds its Marketo id"}, nil
	case !usable:
		return profileMatch{skip: fmt.Sprintf("email %q is not an address, and no profile holds the lead's Marketo id", email)}, nil
	}
	p, err := im.ce.CreateProfile(ctx, im.acct, profileBody(lead, email, key, im.mapping, im.fields))
	if err != nil {
		return profileMatch{}, fmt.Errorf("create profile: %w", err)
	}
	ref := profileRef{PIN: p.PIN, Email: strings.ToLower(email), ExternalID: key, Source: im.fields.SourceValueMarketo, Exact: true}
	im.indexed(ref, cmp.Or(p.Email, email), cmp.Or(p.ExternalID, key))
	im.claim(ref.PIN, key)
	im.learn(email, ref)
	im.rc.Run.Add(CountProfilesCreated, 1)
	return profileMatch{ref: ref, how: "created", wrote: true}, nil
}

// pickByID returns the profile of ps (oldest dateModified first) that
// holds the lead id with Source of Profile Marketo (first) or blank; holder
// is one that holds it under another source (Import, another system): not
// the lead's profile, but a reason not to create a second profile with the
// id.
func (im *importer) pickByID(ps []profileRef, key string) (byID, holder *profileRef) {
	var blank *profileRef
	for i := range ps {
		p := &ps[i]
		if p.ExternalID != key {
			continue
		}
		switch src := p.Source; {
		case strings.EqualFold(src, im.fields.SourceValueMarketo):
			return p, nil
		case src == "":
			if blank == nil {
				blank = p
			}
		case holder == nil:
			holder = p
		}
	}
	return blank, holder
}

// refOf is a profile's reference.
func (im *importer) refOf(p certain.Profile) profileRef {
	return profileRef{PIN: p.PIN, Email: strings.ToLower(strings.TrimSpace(p.Email)), ExternalID: strings.TrimSpace(p.ExternalID),
		Source: strings.TrimSpace(p.Source), Exact: sourceIsExactlyMarketo(im.fields, p)}
}

// adopt makes ref the lead's profile: it writes External Profile ID = key
// and Source of Profile = Marketo when they differ (rule C), except over
// another system's id the connection keeps, and except when another lead
// of this run, earlier in the list and sharing the address, reached the
// profile first: that lead keeps it, and this one is not relinked over it.
func (im *importer) adopt(ctx context.Context, ref profileRef, key, how string) (profileMatch, error) {
	owner := im.claim(ref.PIN, key)
	if im.settled(ref, key) {
		return profileMatch{ref: ref, how: how, note: im.keptNote(ref)}, nil
	}
	if owner != key {
		return profileMatch{ref: ref, how: how, note: fmt.Sprintf("; profile %s keeps lead %s, which shares the e-mail and comes first in the list: not relinked", ref.PIN, owner)}, nil
	}
	write := map[string]any{}
	if ref.ExternalID != key {
		write[im.fields.ExternalID] = key
	}
	if !ref.Exact {
		write[im.fields.Source] = im.fields.SourceValueMarketo
	}
	if err := im.ce.UpdateProfile(ctx, im.acct, ref.PIN, write); err != nil {
		return profileMatch{}, fmt.Errorf("set External Profile ID of profile %s: %w", ref.PIN, err)
	}
	switch old := ref.ExternalID; {
	case old == key && how == "email":
	case old == key:
		how = "id, Source of Profile set"
	case old == "":
		how = "linked"
		im.rc.Run.Add(CountProfilesLinked, 1)
	default:
		how = "relinked"
		im.rc.Run.Add(CountProfilesRelinked, 1)
	}
	m := profileMatch{how: how, wrote: true}
	if how == "relinked" {
		m.note = fmt.Sprintf(" (External Profile ID %s replaced by %s)", ref.ExternalID, key)
	}
	im.forgetExt(ref.ExternalID, ref.PIN)
	ref.ExternalID, ref.Source, ref.Exact = key, im.fields.SourceValueMarketo, true
	im.indexed(ref, "", key)
	im.learnRef(ref)
	m.ref = ref
	return m, nil
}

// claim records that lead key reached the profile pin, unless another lead
// did first this run, and returns the lead that did (key when it is the
// first).
func (im *importer) claim(pin, key string) string {
	im.mu.Lock()
	defer im.mu.Unlock()
	if owner, ok := im.claims[pin]; ok {
		return owner
	}
	im.claims[pin] = key
	return key
}

// forgetExt drops the registration index's entry of a Marketo id the
// profile pin no longer holds, so the lead of that id is not taken as
// registered through it.
func (im *importer) forgetExt(old, pin string) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if cur, ok := im.regByExt[old]; ok && cur.PIN == pin {
		delete(im.regByExt, old)
	}
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
	if im.index != nil {
		ref, ok := im.index.firstByEmail(email)
		if ok {
			im.learn(ek, ref)
		}
		return ref, ok, nil
	}
	tries := []string{email}
	if ek != email {
		tries = append(tries, ek)
	}
	for _, q := range tries {
		im.searches.Add(1)
		ps, err := im.ce.FindProfiles(ctx, im.acct, "email", q)
		if err != nil {
			return profileRef{}, false, fmt.Errorf("find profile by email: %w", err)
		}
		for _, p := range ps {
			if strings.EqualFold(strings.TrimSpace(p.Email), email) {
				ref := im.refOf(p)
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

// learnRef replaces what the run knows of a profile after it was written:
// under its email, and, when registered, under its new Marketo id.
func (im *importer) learnRef(ref profileRef) {
	im.learn(ref.Email, ref)
	im.mu.Lock()
	defer im.mu.Unlock()
	if cur, ok := im.regByEmail[ref.Email]; ok && cur.PIN == ref.PIN {
		im.regByEmail[ref.Email] = ref
	}
	if im.registered[ref.PIN] {
		im.regByExt[ref.ExternalID] = ref
	}
}

func (im *importer) register(ctx context.Context, key, email, ek string, m profileMatch) error {
	ref := m.ref
	unlock := im.pinLocks.lock(ref.PIN)
	defer unlock()
	im.mu.Lock()
	already := im.registered[ref.PIN]
	other, emailRegistered := im.regByEmail[ek]
	im.mu.Unlock()
	if already {
		im.already(key, email, ref.PIN, howText(m.how)+m.note)
		return nil
	}
	if emailRegistered && ek != "" {
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
	if _, ok := im.regByEmail[ek]; !ok && ek != "" {
		im.regByEmail[ek] = ref
	}
	if _, ok := im.regByExt[key]; !ok && ref.ExternalID == key {
		im.regByExt[key] = ref
	}
	im.mu.Unlock()
	im.rc.Run.Add(CountRegistrationsCreated, 1)
	im.record(store.RecordOutcome{Key: key, Email: email, Outcome: store.OutcomeCreated,
		Reason: fmt.Sprintf("registration %s for profile %s (%s%s)", reg.Code, ref.PIN, howText(m.how), m.note)})
	return nil
}

func howText(how string) string {
	switch how {
	case "id":
		return "matched by Marketo id"
	case "id, Source of Profile set":
		return "matched by Marketo id; Source of Profile set to Marketo"
	case "email":
		return "matched by email"
	case "linked":
		return "matched by email; External Profile ID set"
	case "relinked":
		return "matched by email; External Profile ID set to this lead's id"
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
