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
//     profile or registration. Leads sharing an email are handled in the
//     list's order, and the first of them to reach a profile keeps it for
//     the run (a later one is not relinked over it): the outcome is the same
//     whatever the scheduling, and the profile's External Profile ID does
//     not flip between the two leads run after run.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// ListPageSize is the Marketo batch size of a static list read (its maximum).
const ListPageSize = 300

// Named counts of an import run record.
const (
	CountProfilesCreated        = "profilesCreated"
	CountProfilesMatchedByID    = "profilesMatchedById"
	CountProfilesMatchedByEmail = "profilesMatchedByEmail"
	CountProfilesLinked         = "profilesLinked"   // blank External Profile ID filled
	CountProfilesRelinked       = "profilesRelinked" // another Marketo id replaced by the lead's (a stale id)
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

// profileRef is what the import needs to know of a profile.
type profileRef struct {
	PIN        string
	Email      string // lower case
	ExternalID string
	Source     string
	Exact      bool // Source of Profile is exactly the configured Marketo value
}

type importer struct {
	rc *RunContext
	mk Marketo
	// overwriteForeign: the connection's overwriteForeignExternalIds.
	overwriteForeign bool
	ce               Certain
	acct             string
	event            string
	withReg          bool
	listID           int
	status           string
	attType          string
	fields           certain.FieldNames
	mapping          []profileField
	mkCols           []string
	workers          int

	emailTurns turns
	pinLocks   keyLock

	mu         sync.Mutex
	registered map[string]bool       // pins with an active registration
	regByExt   map[string]profileRef // Marketo lead id -> registered profile (Source Marketo or blank)
	regByEmail map[string]profileRef // lower-case email -> registered profile
	byEmail    map[string]profileRef // lower-case email -> profile learned this run
	claims     map[string]string     // pin -> the lead id that reached the profile first this run

	// Profile look-ups (import_index.go): index is nil while leads are
	// searched per lead; searches counts the searches made.
	plan     indexPlan
	index    *profileIndex
	searches atomic.Int64
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
		if err := im.checkEvent(ctx); err != nil {
			return err
		}
		if stopped, err := im.loadRegistrations(ctx); err != nil {
			return err
		} else if stopped {
			return im.stop(ctx, cp)
		}
	}
	cur := &importCursor{cp: cp, saved: resumed}
	for {
		if rc.ShouldStop(ctx) {
			if cur.saved {
				return ErrCheckpointed
			}
			return im.stop(ctx, cur.cp)
		}
		page, retry, err := im.readPage(ctx, cur)
		if err != nil {
			return err
		}
		if retry {
			continue
		}
		if stopped, err := im.planProfiles(ctx, page.Leads[min(cur.cp.Pos, len(page.Leads)):]); err != nil {
			return err
		} else if stopped {
			return im.stop(ctx, cur.cp)
		}
		if finished, err := im.importPage(ctx, cur, page); finished || err != nil {
			return err
		}
	}
}

// importCursor is where a run stands in the list.
type importCursor struct {
	cp        importCheckpoint
	saved     bool // cp is the stored checkpoint
	restarted bool // the list was started over once (an expired page token)
}

// checkEvent fails the run with a configuration error when the job's event
// does not exist, before anything is written.
func (im *importer) checkEvent(ctx context.Context) error {
	if im.rc.Event.Code != "" {
		return nil // the executor read it (checkScope)
	}
	if _, err := im.ce.GetEvent(ctx, im.acct, im.event); err != nil {
		if certain.IsNotFound(err) {
			return Configf("job %q: event %q not found in Certain account %q", im.rc.Job.ID, im.event, im.acct)
		}
		return fmt.Errorf("import: read event %s/%s: %w", im.acct, im.event, err)
	}
	return nil
}

// readPage reads the list page cur points at. retry is true when, instead,
// cur was moved to the start of the list: Marketo no longer accepts the
// checkpointed page token.
func (im *importer) readPage(ctx context.Context, cur *importCursor) (page marketo.ListPage, retry bool, err error) {
	cp := cur.cp
	page, err = im.mk.ListLeadsPage(ctx, im.listID, im.mkCols, cp.PageToken, ListPageSize)
	switch {
	case err == nil:
		return page, false, nil
	case errors.Is(err, marketo.ErrDailyQuota):
		if serr := im.save(ctx, cp); serr != nil {
			return page, false, errors.Join(err, serr)
		}
		return page, false, fmt.Errorf("import: list %d page %d: %w", im.listID, cp.Pages+1, err)
	case cp.PageToken != "" && marketo.HasCode(err, "1003") && !cur.restarted:
		// Marketo no longer accepts the checkpointed page token (it
		// expired while the job waited). Starting the list over is safe:
		// done leads are found registered and cost no Certain write.
		im.rc.Logger.Warn("Marketo refused the checkpointed page token; reading the list from the start", "error", err)
		cur.restarted = true
		cur.cp = importCheckpoint{V: 1, ListID: im.listID, Event: im.event}
		cur.saved = false
		return page, true, nil
	case marketo.IsNotFound(err):
		return page, false, Configf("job %q: Marketo static list %d does not exist (code 1013)", im.rc.Job.ID, im.listID)
	case marketo.HasCode(err, "1006"):
		return page, false, Configf("job %q: the field mapping names a Marketo field this instance does not have (fields %s): %v",
			im.rc.Job.ID, strings.Join(im.mkCols, ","), err)
	default:
		return page, false, fmt.Errorf("import: read list %d page %d: %w", im.listID, cp.Pages+1, err)
	}
}

// importPage imports the page's leads from cur's position on and moves cur
// to the next page, checkpointed. finished is true when the run ends here:
// the list is done, the soft deadline came, or err.
func (im *importer) importPage(ctx context.Context, cur *importCursor, page marketo.ListPage) (finished bool, err error) {
	im.rc.Run.Add(CountListPages, 1)
	leads := page.Leads
	if cur.cp.Pos > len(leads) {
		// The list shrank since the checkpoint; the page is done.
		cur.cp.Pos = len(leads)
	}
	done, perr := im.processPage(ctx, leads[cur.cp.Pos:])
	if done > 0 {
		cur.cp.Pos += done
		cur.saved = false
	}
	if perr != nil {
		return true, im.pageFailed(ctx, cur, perr)
	}
	if cur.cp.Pos < len(leads) {
		return true, im.stop(ctx, cur.cp)
	}
	if page.NextPageToken == "" {
		return true, nil
	}
	if page.NextPageToken == cur.cp.PageToken {
		// A server answering with the token it was sent would loop the
		// job over one page until its deadline, every run.
		return true, fmt.Errorf("import: list %d page %d: Marketo answered with the page token it was sent; stopped", im.listID, cur.cp.Pages+1)
	}
	cur.cp = importCheckpoint{V: 1, ListID: cur.cp.ListID, Event: cur.cp.Event, PageToken: page.NextPageToken, Pages: cur.cp.Pages + 1}
	if err := im.save(ctx, cur.cp); err != nil {
		return true, err
	}
	cur.saved = true
	return false, nil
}

// pageFailed saves the progress of a page that stopped on perr and returns
// the run's error.
func (im *importer) pageFailed(ctx context.Context, cur *importCursor, perr error) error {
	if !cur.saved {
		if serr := im.save(ctx, cur.cp); serr != nil {
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
		registered: map[string]bool{}, regByExt: map[string]profileRef{},
		regByEmail: map[string]profileRef{}, byEmail: map[string]profileRef{}, claims: map[string]string{},
		overwriteForeign: rc.Conn.OverwriteForeignExternalIDs,
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
			ref := im.refOf(p)
			if ref.ExternalID != "" && (ref.Source == "" || strings.EqualFold(ref.Source, im.fields.SourceValueMarketo)) {
				if cur, dup := im.regByExt[ref.ExternalID]; !dup || (!strings.EqualFold(cur.Source, im.fields.SourceValueMarketo) && strings.EqualFold(ref.Source, im.fields.SourceValueMarketo)) {
					im.regByExt[ref.ExternalID] = ref
				}
			}
			if e := ref.Email; e != "" {
				if _, dup := im.regByEmail[e]; !dup {
					im.regByEmail[e] = ref
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
		turn := im.emailTurns.take(emailKeyOf(lead))
		g.Go(func() error {
			defer turn.done()
			turn.wait()
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
