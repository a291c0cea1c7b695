package jobs

// Import Marketo Leads as Registrations (import-leads) and its account-level
// sibling Import Marketo Leads as Profiles (import-profiles).
//
// Why the run is shaped this way:
//   - The static list is read 300 leads a page, the Marketo maximum, and the
//     page is the only Marketo call per 300 leads: list pages are the whole
//     Marketo cost of the job. An unknown list answers the first page read
//     with 1013, before anything is written, so no separate list check is
//     spent.
//   - "Already registered" is answered from one read of the event's active
//     registrations at the start of every invocation (pins, plus the Marketo
//     ids and emails of registered profiles), never by a search per lead. A
//     re-run of a fully imported list therefore costs no per-lead Certain call.
//   - Certain writes are not transactional with our checkpoint. A crash
//     between a write and the next checkpoint re-runs some leads; they cannot
//     be duplicated because the next invocation re-reads the registrations
//     (so the pin is known as registered) and every profile this job creates
//     or links carries External Profile ID = lead id with Source = Marketo
//     (so it is matched by id, not created again).
//   - Within a run, leads are handled concurrently but serialised per email
//     (profile creation) and per pin (registration), so two leads sharing an
//     email, or two leads resolving to one profile, never race into a second
//     profile or registration.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// ListPageSize is the Marketo batch size of a static list read (its maximum).
const ListPageSize = 300

// Named counts of an import run record.
const (
	CountProfilesCreated        = "profilesCreated"
	CountProfilesMatchedByID    = "profilesMatchedById"
	CountProfilesMatchedByEmail = "profilesMatchedByEmail"
	CountProfilesLinked         = "profilesLinked" // blank External Profile ID filled
	CountRegistrationsCreated   = "registrationsCreated"
	CountAlreadyRegistered      = "alreadyRegistered"
	CountListPages              = "listPages"
)

// ImportLeads is the JobFunc of import-leads: every lead of the job's static
// list ends registered for the job's event exactly once.
func ImportLeads(ctx context.Context, rc *RunContext) error { return runImport(ctx, rc, true) }

// ImportProfiles is the JobFunc of import-profiles: every lead of the job's
// static list ends matched to, or created as, a Certain profile.
func ImportProfiles(ctx context.Context, rc *RunContext) error { return runImport(ctx, rc, false) }

// importCheckpoint is the resume point of an import: the token that fetches
// the page being processed ("" for the first page) and how many of its leads
// are done. ListID and Event guard against a job edited between invocations.
type importCheckpoint struct {
	V         int    `json:"v"`
	ListID    int    `json:"listId"`
	Event     string `json:"event,omitempty"`
	PageToken string `json:"pageToken"`
	Pos       int    `json:"pos"`
	Pages     int    `json:"pages"` // pages finished before this one (for logs)
}

type profileRef struct {
	PIN        string
	ExternalID string
}

type importer struct {
	rc      *RunContext
	mk      Marketo
	ce      Certain
	acct    string
	event   string
	withReg bool
	listID  int
	status  string
	attType string
	fields  certain.FieldNames
	mapping []profileField
	mkCols  []string
	workers int

	emailLocks keyLock
	pinLocks   keyLock

	mu         sync.Mutex
	registered map[string]bool       // pins with an active registration
	regByExt   map[string]string     // Marketo lead id -> registered pin (Source = Marketo)
	regByEmail map[string]profileRef // lower-case email -> registered profile
	byEmail    map[string]profileRef // lower-case email -> profile learned this run
}

func runImport(ctx context.Context, rc *RunContext, withReg bool) error {
	im, err := newImporter(rc, withReg)
	if err != nil {
		return err
	}
	cp, resumed, err := im.loadCheckpoint()
	if err != nil {
		return err
	}
	if withReg {
		if _, err := im.ce.GetEvent(ctx, im.acct, im.event); err != nil {
			if certain.IsNotFound(err) {
				return Configf("job %q: event %q not found in Certain account %q", rc.Job.ID, im.event, im.acct)
			}
			return fmt.Errorf("import: read event %s/%s: %w", im.acct, im.event, err)
		}
		if stopped, err := im.loadRegistrations(ctx); err != nil {
			return err
		} else if stopped {
			return im.stop(ctx, cp)
		}
	}
	saved := resumed // the stored checkpoint is cp
	restarted := false
	for {
		if rc.ShouldStop(ctx) {
			if saved {
				return ErrCheckpointed
			}
			return im.stop(ctx, cp)
		}
		page, err := im.mk.ListLeadsPage(ctx, im.listID, im.mkCols, cp.PageToken, ListPageSize)
		switch {
		case err == nil:
		case errors.Is(err, marketo.ErrDailyQuota):
			if serr := im.save(ctx, cp); serr != nil {
				return errors.Join(err, serr)
			}
			return fmt.Errorf("import: list %d page %d: %w", im.listID, cp.Pages+1, err)
		case cp.PageToken != "" && marketo.HasCode(err, "1003") && !restarted:
			// Marketo no longer accepts the checkpointed page token (it
			// expired while the job waited). Starting the list over is safe:
			// done leads are found registered and cost no Certain write.
			rc.Logger.Warn("Marketo refused the checkpointed page token; reading the list from the start", "error", err)
			restarted = true
			cp = importCheckpoint{V: 1, ListID: im.listID, Event: im.event}
			saved = false
			continue
		case marketo.IsNotFound(err):
			return Configf("job %q: Marketo static list %d does not exist (code 1013)", rc.Job.ID, im.listID)
		case marketo.HasCode(err, "1006"):
			return Configf("job %q: the field mapping names a Marketo field this instance does not have (fields %s): %v",
				rc.Job.ID, strings.Join(im.mkCols, ","), err)
		default:
			return fmt.Errorf("import: read list %d page %d: %w", im.listID, cp.Pages+1, err)
		}
		rc.Run.Add(CountListPages, 1)
		leads := page.Leads
		if cp.Pos > len(leads) {
			// The list shrank since the checkpoint; the page is done.
			cp.Pos = len(leads)
		}
		done, perr := im.processPage(ctx, leads[cp.Pos:])
		if done > 0 {
			cp.Pos += done
			saved = false
		}
		if perr != nil {
			if !saved {
				if serr := im.save(ctx, cp); serr != nil {
					return errors.Join(perr, serr)
				}
			}
			if ctx.Err() != nil {
				// The invocation ended under us (hard deadline): the calls
				// it cut are redone from the checkpoint at the next tick.
				return fmt.Errorf("%w (the invocation ended: %v)", ErrCheckpointed, ctx.Err())
			}
			return perr
		}
		if cp.Pos < len(leads) {
			return im.stop(ctx, cp)
		}
		if page.NextPageToken == "" {
			return nil
		}
		if page.NextPageToken == cp.PageToken {
			// A server answering with the token it was sent would loop the
			// job over one page until its deadline, every run.
			return fmt.Errorf("import: list %d page %d: Marketo answered with the page token it was sent; stopped", im.listID, cp.Pages+1)
		}
		cp = importCheckpoint{V: 1, ListID: cp.ListID, Event: cp.Event, PageToken: page.NextPageToken, Pages: cp.Pages + 1}
		if err := im.save(ctx, cp); err != nil {
			return err
		}
		saved = true
	}
}

func newImporter(rc *RunContext, withReg bool) (*importer, error) {
	j := rc.Job
	if err := j.ValidateFor(rc.Conn); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	wantType := config.TypeImportProfiles
	if withReg {
		wantType = config.TypeImportLeads
	}
	if j.Type != wantType {
		return nil, Configf("job %q has type %q; this function imports %q", j.ID, j.Type, wantType)
	}
	if rc.Clients.Marketo == nil || rc.Clients.Certain == nil {
		return nil, fmt.Errorf("import: job %q: Marketo and Certain clients are required", j.ID)
	}
	fields := rc.Clients.Certain.Fields().WithDefaults()
	mapping, err := reverseMapping(rc.Conn.FieldMapping, fields)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", j.ID, err)
	}
	workers := rc.Conn.WithDefaults().MaxInFlight * 2
	im := &importer{
		rc: rc, mk: rc.Clients.Marketo, ce: rc.Clients.Certain,
		acct: j.Account, event: j.Event, withReg: withReg, listID: j.Params.ListID,
		fields: fields, mapping: mapping, mkCols: leadFields(mapping), workers: workers,
		registered: map[string]bool{}, regByExt: map[string]string{},
		regByEmail: map[string]profileRef{}, byEmail: map[string]profileRef{},
	}
	if withReg {
		im.status = canonicalStatus(rc.Conn, j.Params.RegistrationStatus)
		im.attType = strings.TrimSpace(j.Params.AttendeeType)
	}
	rc.Logger.Debug("import starting", "listId", im.listID, "profileFields", describeFields(mapping), "workers", workers)
	return im, nil
}

// loadCheckpoint decodes the previous invocation's resume point. A
// checkpoint written for another list or event (the job was edited) is
// discarded: the import starts over, which is safe because it is idempotent.
func (im *importer) loadCheckpoint() (cp importCheckpoint, resumed bool, err error) {
	fresh := importCheckpoint{V: 1, ListID: im.listID, Event: im.event}
	if im.rc.Checkpoint == nil {
		return fresh, false, nil
	}
	if err := json.Unmarshal(im.rc.Checkpoint, &cp); err != nil {
		return fresh, false, fmt.Errorf("import: job %q: checkpoint is not valid JSON: %w", im.rc.Job.ID, err)
	}
	if cp.ListID != im.listID || cp.Event != im.event || cp.Pos < 0 {
		im.rc.Logger.Warn("checkpoint is for another list or event; starting over",
			"checkpointList", cp.ListID, "checkpointEvent", cp.Event)
		return fresh, false, nil
	}
	return cp, true, nil
}

func (im *importer) save(ctx context.Context, cp importCheckpoint) error {
	data, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("import: encode checkpoint: %w", err)
	}
	return im.rc.SaveCheckpoint(ctx, data)
}

func (im *importer) stop(ctx context.Context, cp importCheckpoint) error {
	if err := im.save(ctx, cp); err != nil {
		return err
	}
	im.rc.Logger.Info("import stopped at the soft deadline", "page", cp.Pages+1, "pos", cp.Pos)
	return ErrCheckpointed
}

// loadRegistrations indexes the event's active registrations. It reports
// stopped when the soft deadline came first.
func (im *importer) loadRegistrations(ctx context.Context) (stopped bool, err error) {
	for page, err := range im.ce.RegistrationPages(ctx, im.acct, im.event, certain.RegistrationQuery{ActiveOnly: true}) {
		if err != nil {
			return false, fmt.Errorf("import: read registrations of %s/%s: %w", im.acct, im.event, err)
		}
		for _, r := range page.Items {
			p := r.Profile
			if p.PIN == "" {
				continue
			}
			im.registered[p.PIN] = true
			if p.ExternalID != "" && strings.EqualFold(p.Source, im.fields.SourceValueMarketo) {
				if _, dup := im.regByExt[p.ExternalID]; !dup {
					im.regByExt[p.ExternalID] = p.PIN
				}
			}
			if e := strings.ToLower(p.Email); e != "" {
				if _, dup := im.regByEmail[e]; !dup {
					im.regByEmail[e] = profileRef{PIN: p.PIN, ExternalID: p.ExternalID}
				}
			}
		}
		if !page.Last && im.rc.ShouldStop(ctx) {
			return true, nil
		}
	}
	return false, nil
}

// processPage handles leads in order with bounded concurrency. It stops
// dispatching at the soft deadline or after a run-level error and returns how
// many leads, counted from the start, are done: every lead before that
// position was handled, so resuming there loses nothing.
func (im *importer) processPage(ctx context.Context, leads []marketo.Lead) (int, error) {
	done := make([]bool, len(leads))
	var g errgroup.Group
	g.SetLimit(im.workers)
	var mu sync.Mutex
	failed := false
	dispatched := 0
	for i, lead := range leads {
		mu.Lock()
		f := failed
		mu.Unlock()
		if f || im.rc.ShouldStop(ctx) {
			break
		}
		dispatched = i + 1
		g.Go(func() error {
			if err := im.handle(ctx, lead); err != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
				return err
			}
			done[i] = true
			return nil
		})
	}
	err := g.Wait()
	n := 0
	for n < dispatched && done[n] {
		n++
	}
	return n, err
}

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
