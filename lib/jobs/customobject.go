package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/fieldtype"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

// Logical field names shared by both custom objects (keys of Params.Fields
// besides the metric names).
const (
	FieldLead        = "lead"        // the link to the lead; default: the object's Lead link field
	FieldKey         = "key"         // a one-field dedupe key built from event, lead (and tag)
	FieldEvent       = "event"       // the Certain event code
	FieldProgramName = "programName" // the Certain event name
	FieldInterest    = "interest"    // interest: the tag name
	FieldPoints      = "points"      // interest: the summed points
)

// FieldDisabled as a Params.Fields value stops a logical field being sent.
const FieldDisabled = "-"

// Default custom objects (docs/jobs.md §4 and §5).
const (
	DefaultEngagementObject = config.DefaultEngagementObject
	DefaultInterestObject   = config.DefaultInterestObject
)

// coSpec describes what a job writes to its custom object before Describe
// has been consulted.
type coSpec struct {
	Defaults map[string]string // logical -> default field API name (FieldLead absent: the link field)
	Required []string          // logical names that must be written
	Optional []string          // written when the object has the field (always when configured)
	Ignored  []string          // accepted in Params.Fields but not written this run (metrics of disabled modules)
}

// coPlan is a validated mapping of logical names to custom object fields.
type coPlan struct {
	APIName string
	Fields  map[string]string // logical -> field API name, only the fields written
	Dedupe  []string          // the object's dedupe fields, all of them among Fields' values
	// Types are the written fields' conversion targets (convert.go), by
	// field API name.
	Types map[string]fieldtype.Field
}

func coNotFound(err error) bool {
	var me *marketo.Error
	return errors.As(err, &me) && me.Code == "1013"
}

// planCustomObject describes the custom object and checks the job's field
// mapping against it. Every problem is a configuration error naming the
// object and the field; nothing has been written when it fails.
func planCustomObject(ctx context.Context, m Marketo, apiName string, configured map[string]string, spec coSpec) (coPlan, error) {
	known := slices.Concat(spec.Required, spec.Optional, spec.Ignored)
	for k := range configured {
		if !slices.Contains(known, k) {
			ks := slices.Clone(known)
			sort.Strings(ks)
			return coPlan{}, Configf("params.fields: unknown logical field %q for custom object %q (known: %s)", k, apiName, strings.Join(ks, ", "))
		}
	}
	t, err := m.DescribeCustomObject(ctx, apiName)
	if coNotFound(err) {
		return coPlan{}, Configf("custom object %q does not exist in Marketo (describe answered 1013); create and approve it or fix params.customObject", apiName)
	}
	if err != nil {
		return coPlan{}, fmt.Errorf("describe custom object %q: %w", apiName, err)
	}
	p := &coPlanner{t: t, configured: configured, defaults: spec.Defaults, has: map[string]bool{}, usedBy: map[string]string{},
		fields: map[string]marketo.CustomObjectField{},
		plan:   coPlan{APIName: apiName, Fields: map[string]string{}, Dedupe: t.DedupeFields, Types: map[string]fieldtype.Field{}}}
	for _, f := range t.Fields {
		p.has[f.Name] = true
		p.fields[f.Name] = f
	}
	for _, l := range spec.Required {
		if err := p.add(l, true); err != nil {
			return coPlan{}, err
		}
	}
	for _, l := range spec.Optional {
		if err := p.add(l, false); err != nil {
			return coPlan{}, err
		}
	}
	if err := p.checkLink(); err != nil {
		return coPlan{}, err
	}
	if err := p.checkDedupe(known); err != nil {
		return coPlan{}, err
	}
	return p.plan, nil
}

// coPlanner builds a coPlan from the describe of the object.
type coPlanner struct {
	t          marketo.CustomObjectType
	configured map[string]string // Params.Fields
	defaults   map[string]string // coSpec.Defaults
	has        map[string]bool   // the object's fields
	fields     map[string]marketo.CustomObjectField
	usedBy     map[string]string // field -> logical name mapped to it
	plan       coPlan
}

// add maps one logical name to its field: the configured one, else the
// default (for the lead link: the object's link field). An optional
// default the object does not have is left out.
func (p *coPlanner) add(logical string, required bool) error {
	apiName := p.plan.APIName
	name, explicit := p.configured[logical]
	name = strings.TrimSpace(name)
	if !explicit {
		name = p.defaults[logical]
		if logical == FieldLead && name == "" {
			name = p.t.LinkField
		}
	}
	if name == FieldDisabled {
		if logical == FieldLead {
			return Configf("params.fields[%q]: the lead link cannot be disabled", logical)
		}
		return nil
	}
	if name == "" {
		if logical == FieldLead {
			return Configf("custom object %q has no link field to Lead; set params.fields[%q] or link the object to Lead", apiName, FieldLead)
		}
		return Configf("params.fields[%q]: no custom object field given", logical)
	}
	if !p.has[name] {
		if !required && !explicit {
			return nil // an optional default the object does not have
		}
		src := "default"
		if explicit {
			src = "params.fields"
		}
		return Configf("custom object %q has no field %q (%s for %q); fields are: %s", apiName, name, src, logical, strings.Join(slices.Sorted(maps.Keys(p.has)), ", "))
	}
	if other, dup := p.usedBy[name]; dup {
		return Configf("params.fields: %q and %q both map to custom object field %q", other, logical, name)
	}
	f := p.fields[name]
	if err := checkCOType(apiName, logical, f); err != nil {
		return err
	}
	p.usedBy[name] = logical
	p.plan.Fields[logical] = name
	p.plan.Types[name] = fieldtype.Field{Name: name, DataType: f.DataType, Length: f.Length}
	return nil
}

// checkLink checks that the lead field is the object's link to the lead id.
func (p *coPlanner) checkLink() error {
	apiName, t := p.plan.APIName, p.t
	if lf := p.plan.Fields[FieldLead]; t.LinkField != "" && lf != t.LinkField {
		return Configf("params.fields[%q] = %q, but custom object %q links to Lead through %q", FieldLead, lf, apiName, t.LinkField)
	}
	if t.LinkTo != "" && t.LinkTo != "id" {
		return Configf("custom object %q links to the lead field %q; only links to the lead id are supported", apiName, t.LinkTo)
	}
	return nil
}

// checkDedupe checks that a mapped field fills every dedupe field.
func (p *coPlanner) checkDedupe(known []string) error {
	apiName, t := p.plan.APIName, p.t
	if len(t.DedupeFields) == 0 {
		return Configf("custom object %q has no dedupe fields", apiName)
	}
	for _, d := range t.DedupeFields {
		if _, ok := p.usedBy[d]; !ok {
			return Configf("custom object %q dedupes by %q, which no mapped field fills (map one of %s to it)", apiName, d, strings.Join(known, ", "))
		}
	}
	return nil
}

// record builds a custom object record from logical values; values of
// logical fields the plan does not write are dropped.
func (p coPlan) record(values map[string]any) marketo.Record {
	r := marketo.Record{}
	for l, name := range p.Fields {
		if v, ok := values[l]; ok {
			r[name] = v
		}
	}
	return r
}

// key is the record's dedupe key: the dedupe field values joined by "|".
func (p coPlan) key(r marketo.Record) string {
	parts := make([]string, len(p.Dedupe))
	for i, d := range p.Dedupe {
		parts[i] = fmt.Sprint(r[d])
	}
	return strings.Join(parts, "|")
}

// recordHash is a stable digest of a record (encoding/json sorts map keys).
func recordHash(r marketo.Record) string {
	b, _ := json.Marshal(r) // a map of strings, numbers and nil always marshals
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:16])
}

// coRecord is one record to upload with what the run record says about it.
type coRecord struct {
	OutKey string // per-record outcome key: registration code (engagement) or "regCode/tag" (interest)
	Email  string
	Rec    marketo.Record
	// Owner is the registration the record comes from. Two registrations
	// of one lead (two profiles sharing an email) produce the same dedupe
	// key; the first one in registration order owns the record.
	Owner string
	// Zero marks an interest record sent as 0 because the owner's points
	// fell to nothing: it never takes a record from another registration.
	Zero bool
	// Lead is the lead id the record links to.
	Lead int
	// Note is added to the record's outcome when it is written (what
	// resolving its lead did: a stale id healed).
	Note string
}

// coUploader sends custom object records with delta detection.
//
// Ownership: Marketo keeps one record per dedupe key, so when two
// registrations map to the same key (one lead registered twice) only one
// may write it, or the two would overwrite each other on every run. The
// first registration in the run's registration order claims the key
// (claims, for the whole invocation); later ones are recorded as skipped
// without a Marketo call. The owner is stored with the record's hash, so an
// invocation that continues a checkpointed run (resumed), which has lost
// the claims made before the checkpoint, leaves a key stored by another
// registration to that registration.
type coUploader struct {
	rc      *RunContext
	plan    coPlan
	scope   string // store.Hashes scope: "job:<id>"
	force   bool
	resumed bool              // this invocation continues a checkpointed run
	claims  map[string]string // delta key -> owning registration, this invocation
	// claimMu guards claims: batches upload at once, and take their turn
	// (claimTurn) to claim in the run's registration order.
	claimMu sync.Mutex
}

// claimTurn orders the claims of batches uploaded at once: a batch claims
// its records' keys only after the batch read before it has, so the first
// registration in Certain's order owns a key whatever batch reaches Marketo
// first. A nil turn waits for nothing.
type claimTurn struct {
	prev <-chan struct{} // closed once the previous batch claimed; nil for the first
	done chan struct{}
	once sync.Once
}

// next returns the turn of the batch after t (t may be nil).
func (t *claimTurn) next() *claimTurn {
	n := &claimTurn{done: make(chan struct{})}
	if t != nil {
		n.prev = t.done
	}
	return n
}

// wait waits for the previous batch's claims.
func (t *claimTurn) wait(ctx context.Context) error {
	if t == nil || t.prev == nil {
		return nil
	}
	select {
	case <-t.prev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release lets the next batch claim; safe to call more than once.
func (t *claimTurn) release() {
	if t != nil {
		t.once.Do(func() { close(t.done) })
	}
}

const recordHashPrefix = "r:"

// upload sends the records that changed since the last successful upload
// and records one outcome per record. ok[i] is true when record i is now in
// Marketo with these values (sent or unchanged), or when it is a zero
// record for a key another registration owns (nothing left to clear). A
// permanent refusal is remembered with the record's hash and, with
// Params.RetryFailuresAfter, not re-sent while the record is the same. An error (store failure,
// Marketo quota...) means no outcome was recorded for the records not sent.
func (u *coUploader) upload(ctx context.Context, recs []coRecord) (ok []bool, err error) {
	ok, _, err = u.uploadAll(ctx, recs, false, nil)
	return ok, err
}

// heldRecord is a record Marketo refused because the lead it links to does
// not exist (1004), held back by uploadHolding with the outcome it would
// have recorded: the caller checks the lead, and either sends the record
// again under the lead it finds or releases it (records the refusal).
type heldRecord struct {
	i    int // index in the upload's records
	out  store.RecordOutcome
	key  string // delta key
	hash string
}

// uploadHolding is upload, except that records refused because their lead
// does not exist are returned instead of recorded.
// turn orders its claims among batches uploaded at once.
func (u *coUploader) uploadHolding(ctx context.Context, recs []coRecord, turn *claimTurn) (ok []bool, held []heldRecord, err error) {
	return u.uploadAll(ctx, recs, true, turn)
}

// release records the refusals of held records (and remembers permanent
// ones, as upload does).
func (u *coUploader) release(ctx context.Context, held []heldRecord) {
	done := map[string]string{}
	now := u.rc.Now()
	for _, h := range held {
		u.rc.Run.Record(h.out)
		if m, ok := failureMemo(h.out, h.hash, now); ok {
			done[h.key] = m.encode()
		}
	}
	if len(done) > 0 {
		if err := u.rc.Store.PutHashes(ctx, u.scope, done); err != nil {
			u.rc.Logger.WarnContext(ctx, "cannot remember refused custom object records; they are sent again next run", "records", len(done), "error", err)
		}
	}
}

func (u *coUploader) uploadAll(ctx context.Context, recs []coRecord, hold bool, turn *claimTurn) (ok []bool, held []heldRecord, err error) {
	defer turn.release()
	failed := u.convert(recs)
	b := u.newBatch(recs)
	if len(recs) == 0 {
		return b.ok, nil, nil
	}
	prev := map[string]string{}
	if !u.force {
		if prev, err = u.rc.Store.GetHashes(ctx, u.scope, b.distinct); err != nil {
			return b.ok, nil, fmt.Errorf("read delta hashes: %w", err)
		}
	}
	if err := turn.wait(ctx); err != nil {
		return b.ok, nil, err
	}
	now := u.rc.Now()
	var send []int
	owners := map[string]string{} // unchanged records whose stored owner moves
	u.claimMu.Lock()
	if u.claims == nil {
		u.claims = map[string]string{}
	}
	for i := range recs {
		if failed[i] {
			continue
		}
		if u.needsSend(b, i, prev, now, owners) {
			send = append(send, i)
		}
	}
	u.claimMu.Unlock()
	turn.release()
	if len(owners) > 0 {
		if err := u.rc.Store.PutHashes(ctx, u.scope, owners); err != nil {
			u.rc.Logger.WarnContext(ctx, "cannot store custom object record owners", "records", len(owners), "error", err)
		}
	}
	if len(send) == 0 {
		return b.ok, nil, nil
	}
	held, err = u.send(ctx, b, send, now, hold)
	return b.ok, held, err
}

// convert puts every record's values into its fields' types (convert.go);
// a record with a value that does not fit is recorded as failed, with its
// reason, and not sent.
func (u *coUploader) convert(recs []coRecord) (failed []bool) {
	failed = make([]bool, len(recs))
	for i := range recs {
		typed, bad := u.plan.typed(recs[i].Rec, u.rc.Conn.Overflow())
		if bad != nil {
			failed[i] = true
			u.rc.Run.Record(store.RecordOutcome{Key: recs[i].OutKey, Email: recs[i].Email, Outcome: store.OutcomeFailed, Code: CodeType, Reason: bad.reason()})
			continue
		}
		recs[i].Rec = typed
	}
	return failed
}

// coBatch is the records of one upload with their delta keys and hashes.
type coBatch struct {
	recs     []coRecord
	keys     []string       // recordHashPrefix + dedupe key
	hashes   []string       // recordHash of each record
	first    map[string]int // delta key -> index of the first record with it
	distinct []string       // the delta keys, each once
	ok       []bool         // see upload
}

func (u *coUploader) newBatch(recs []coRecord) *coBatch {
	b := &coBatch{recs: recs, keys: make([]string, len(recs)), hashes: make([]string, len(recs)),
		first: map[string]int{}, ok: make([]bool, len(recs))}
	for i, r := range recs {
		b.keys[i] = recordHashPrefix + u.plan.key(r.Rec)
		b.hashes[i] = recordHash(r.Rec)
		if _, dup := b.first[b.keys[i]]; !dup {
			b.first[b.keys[i]] = i
			b.distinct = append(b.distinct, b.keys[i])
		}
	}
	return b
}

// needsSend reports whether record i must go to Marketo, and otherwise
// records its outcome: a second record with one dedupe key, a record
// another registration owns, an unchanged record, or a refusal held.
// owners collects the unchanged records whose stored owner moves.
func (u *coUploader) needsSend(b *coBatch, i int, prev map[string]string, now time.Time, owners map[string]string) bool {
	r, k := b.recs[i], b.keys[i]
	if first := b.first[k]; first != i {
		// Marketo refuses one dedupe key twice in a batch (1036).
		u.rc.Run.Record(store.RecordOutcome{Key: r.OutKey, Email: r.Email, Outcome: store.OutcomeSkipped,
			Reason: fmt.Sprintf("same custom object key %q as %s in this batch (one lead registered twice?)", u.plan.key(r.Rec), b.recs[first].OutKey)})
		b.ok[i] = r.Zero
		return false
	}
	e := parseDelta(prev[k])
	if owner, other := u.ownedByOther(k, r, e); other {
		u.rc.Run.Record(store.RecordOutcome{Key: r.OutKey, Email: r.Email, Outcome: store.OutcomeSkipped,
			Reason: fmt.Sprintf("custom object record %q belongs to registration %s of the same lead (one lead registered twice); not sent", u.plan.key(r.Rec), owner)})
		// A zero for a record another registration holds is done with.
		b.ok[i] = r.Zero
		return false
	}
	if !r.Zero {
		u.claims[k] = r.Owner
	}
	if !e.Failed && e.Hash == b.hashes[i] {
		b.ok[i] = true
		u.rc.Run.Record(store.RecordOutcome{Key: r.OutKey, Email: r.Email, Outcome: store.OutcomeUnchanged})
		if e.Owner != r.Owner && r.Owner != "" {
			owners[k] = deltaEntry{Hash: b.hashes[i], Owner: r.Owner}.encode()
		}
		return false
	}
	if after := time.Duration(u.rc.Job.Params.RetryFailuresAfter); e.held(b.hashes[i], now, after) {
		u.rc.Run.Record(e.heldOutcome(r.OutKey, r.Email, after))
		u.rc.Run.Add("failuresNotRetried", 1)
		return false
	}
	return true
}

// ownedByOther reports whether the record with delta key k (stored entry
// e) belongs to another registration, and which: one that claimed it in
// this invocation, or, by its stored owner, one that claimed it before the
// checkpoint this run continues, or before a zero record would clear it.
func (u *coUploader) ownedByOther(k string, r coRecord, e deltaEntry) (owner string, other bool) {
	owner, claimed := u.claims[k]
	if !claimed && u.resumed && !e.Failed && e.Owner != "" && e.Hash != "" {
		// Claimed before the checkpoint this run continues.
		owner, claimed = e.Owner, e.Owner != r.Owner
	}
	if !claimed && r.Zero && !e.Failed && e.Owner != "" {
		owner, claimed = e.Owner, e.Owner != r.Owner
	}
	return owner, claimed && owner != r.Owner
}

// send makes the Sync Custom Objects call for the records idx, records
// their outcomes and stores their hashes (or remembered refusals). With
// hold, a record refused because its lead does not exist (1004) is
// returned instead.
func (u *coUploader) send(ctx context.Context, b *coBatch, idx []int, now time.Time, hold bool) ([]heldRecord, error) {
	send := make([]marketo.Record, len(idx))
	for j, i := range idx {
		send[j] = b.recs[i].Rec
	}
	res, err := u.rc.Clients.Marketo.SyncCustomObjects(ctx, u.plan.APIName, marketo.SyncCustomObjectsRequest{
		Action: marketo.ActionCreateOrUpdate, DedupeBy: "dedupeFields", Input: send})
	if err != nil {
		return nil, fmt.Errorf("sync %d records to custom object %q: %w", len(send), u.plan.APIName, err)
	}
	if len(res) != len(send) {
		return nil, fmt.Errorf("sync custom object %q: %d results for %d records", u.plan.APIName, len(res), len(send))
	}
	var held []heldRecord
	done := map[string]string{}
	for j, x := range res {
		i := idx[j]
		r := b.recs[i]
		switch x.Status {
		case marketo.StatusCreated, marketo.StatusUpdated:
			b.ok[i] = true
			done[b.keys[i]] = deltaEntry{Hash: b.hashes[i], Owner: r.Owner}.encode()
			u.rc.Run.Record(store.RecordOutcome{Key: r.OutKey, Email: r.Email, Outcome: x.Status, Reason: r.Note})
		default:
			code, reason := reasonOf(x.Reasons)
			if reason == "" {
				reason = "custom object record " + x.Status
			}
			out := store.RecordOutcome{Key: r.OutKey, Email: r.Email, Outcome: store.OutcomeFailed, Code: code, Reason: reason}
			if hold && code == "1004" {
				held = append(held, heldRecord{i: i, out: out, key: b.keys[i], hash: b.hashes[i]})
				continue
			}
			u.rc.Run.Record(out)
			if m, ok := failureMemo(out, b.hashes[i], now); ok {
				done[b.keys[i]] = m.encode()
			}
		}
	}
	if len(done) > 0 {
		if err := u.rc.Store.PutHashes(ctx, u.scope, done); err != nil {
			// The records are in Marketo; the next run resends them, which
			// is harmless (createOrUpdate by dedupe key).
			u.rc.Logger.WarnContext(ctx, "cannot store delta hashes; the next run resends these records", "records", len(done), "error", err)
		}
	}
	return held, nil
}

func reasonOf(rs []marketo.Reason) (code, msg string) {
	var codes, msgs []string
	for _, r := range rs {
		codes = append(codes, r.Code)
		msgs = append(msgs, marketo.SafeMessage(r))
	}
	return strings.Join(codes, ","), strings.Join(msgs, "; ")
}
