package jobs

// How an import finds a lead's profile: two searches per new lead (by
// External Profile ID, then by e-mail), or an index of the account's
// profiles read in pages once per invocation.
//
// Why: a lead new to Certain costs two searches that both miss, half of
// import-leads' Certain calls (a profile create and a registration are the
// other half). When the account holds few profiles for the leads to import,
// reading all of them costs far fewer calls than searching per lead.
//
// The rule (docs/jobs.md §1, rule 9): before each list page, the searches
// this invocation has made plus those the page's remaining leads would make
// (1 by id per lead the registration index does not answer, plus 1 by
// e-mail, 2 for an address with capitals, when the e-mail is not known yet)
// are compared with the pages an index read takes (the first page of a
// one-row profile read reports completeCollectionSize; read once per
// invocation, when at least 2 searches are ahead). The account is indexed
// when its pages are fewer, and it holds at most profileIndexMaxProfiles
// profiles (the index's memory); otherwise the searches stay, and the
// comparison is made again at the next page with the searches made since (a
// rent-or-buy rule: never more than about twice the cheaper of the two).
//
// The index answers exactly what the searches would at this point of the
// run: by id, the profiles whose External Profile ID is exactly the lead id
// (what FindProfiles accepts); by e-mail, the first profile whose e-mail
// equals the address ignoring case (strings.EqualFold, as the search and its
// check); both oldest dateModified first, the order the searches return and
// the read is made in. A profile the job creates or writes during the
// invocation is filed again as the newest, as Certain would then return it.
// Profiles others create or change during the invocation are not seen until
// the next invocation reads the index again.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// profileIndexMaxProfiles bounds the index (about 250 bytes a profile):
// an account with more profiles is searched per lead.
const profileIndexMaxProfiles = 50_000

// CountProfilesIndexed is the run count of profiles an import indexed.
const CountProfilesIndexed = "profilesIndexed"

// indexPlan is the invocation's state of the rule above.
type indexPlan struct {
	counted bool
	coll    certain.ProfileCollection
	off     bool // the index cannot be used in this invocation
}

// indexEntry is one profile of the index.
type indexEntry struct {
	ref   profileRef
	email string // as Certain holds it
	ext   string // External Profile ID as Certain holds it
}

// profileIndex is the account's profiles by External Profile ID and by
// e-mail, each bucket oldest dateModified first. Safe for concurrent use.
type profileIndex struct {
	mu      sync.Mutex
	byPIN   map[string]*indexEntry
	byExt   map[string][]*indexEntry
	byEmail map[string][]*indexEntry // by foldKey of the e-mail
}

func newProfileIndex() *profileIndex {
	return &profileIndex{byPIN: map[string]*indexEntry{}, byExt: map[string][]*indexEntry{}, byEmail: map[string][]*indexEntry{}}
}

// add files a profile read from Certain as the newest. It reports false
// for a pin already filed: the profile changed during the read.
func (x *profileIndex) add(ref profileRef, email, ext string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, dup := x.byPIN[ref.PIN]; dup {
		return false
	}
	x.file(&indexEntry{ref: ref, email: email, ext: ext})
	return true
}

// put files a profile the job created or wrote as the newest, replacing
// what the index held of it. email "" keeps the e-mail filed.
func (x *profileIndex) put(ref profileRef, email, ext string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old := x.byPIN[ref.PIN]; old != nil {
		x.byExt[old.ext] = without(x.byExt[old.ext], old)
		fk := foldKey(old.email)
		x.byEmail[fk] = without(x.byEmail[fk], old)
		if email == "" {
			email = old.email
		}
	}
	if email == "" {
		email = ref.Email
	}
	x.file(&indexEntry{ref: ref, email: email, ext: ext})
}

// file appends e to its buckets. mu held.
func (x *profileIndex) file(e *indexEntry) {
	x.byPIN[e.ref.PIN] = e
	if e.ext != "" {
		x.byExt[e.ext] = append(x.byExt[e.ext], e)
	}
	if e.email != "" {
		fk := foldKey(e.email)
		x.byEmail[fk] = append(x.byEmail[fk], e)
	}
}

func without(es []*indexEntry, e *indexEntry) []*indexEntry {
	for i, x := range es {
		if x == e {
			return append(es[:i:i], es[i+1:]...)
		}
	}
	return es
}

// byID is what a search by External Profile ID = id returns.
func (x *profileIndex) byID(id string) []profileRef {
	x.mu.Lock()
	defer x.mu.Unlock()
	es := x.byExt[id]
	out := make([]profileRef, 0, len(es))
	for _, e := range es {
		out = append(out, e.ref)
	}
	return out
}

// firstByEmail is the first profile a search by email would return.
func (x *profileIndex) firstByEmail(email string) (profileRef, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.byEmail[foldKey(email)] {
		if strings.EqualFold(e.email, email) {
			return e.ref, true
		}
	}
	return profileRef{}, false
}

func (x *profileIndex) size() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byPIN)
}

// foldKey maps s to a key shared by exactly the strings strings.EqualFold
// accepts as equal to it: each rune becomes the smallest of its case
// folding orbit.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			b.WriteRune(r)
			continue
		}
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b.WriteRune(lo)
	}
	return b.String()
}

// planProfiles applies the rule above before a list page's leads are
// handled: it reads the account's profile count once, and the index when
// it pays. stopped is true when the soft deadline came during the read.
func (im *importer) planProfiles(ctx context.Context, leads []marketo.Lead) (stopped bool, err error) {
	if im.index != nil || im.plan.off {
		return false, nil
	}
	ahead := int(im.searches.Load()) + im.searchesFor(leads)
	if ahead < 2 {
		return false, nil
	}
	if !im.plan.counted {
		coll, err := im.ce.CountProfiles(ctx, im.acct)
		if err != nil {
			return false, fmt.Errorf("import: count the profiles of account %s: %w", im.acct, err)
		}
		im.plan.counted, im.plan.coll = true, coll
		switch {
		case coll.Total < 0:
			im.plan.off = true
			im.rc.Logger.Info("Certain does not report the account's profile count (completeCollectionSize): searching profiles per lead")
		case coll.Total > profileIndexMaxProfiles:
			im.plan.off = true
			im.rc.Logger.Info("the account holds too many profiles to index: searching profiles per lead", "profiles", coll.Total, "max", profileIndexMaxProfiles)
		}
		if im.plan.off {
			return false, nil
		}
	}
	if im.plan.coll.Pages >= ahead {
		return false, nil
	}
	im.rc.Logger.Info("indexing the account's profiles instead of searching per lead",
		"profiles", im.plan.coll.Total, "pages", im.plan.coll.Pages, "searchesAhead", ahead)
	return im.buildIndex(ctx)
}

// searchesFor estimates the searches leads would make: one by id per lead
// the registration index does not answer, and by e-mail (twice for an
// address with capitals) when the run does not know the e-mail yet.
func (im *importer) searchesFor(leads []marketo.Lead) int {
	n := 0
	for _, lead := range leads {
		id := lead.ID()
		if id <= 0 {
			continue
		}
		email := strings.TrimSpace(lead.Email())
		ek := ""
		if email != "" && plausibleEmail(email) {
			ek = strings.ToLower(email)
		}
		if _, _, ok := im.registeredMatch(strconv.Itoa(id), ek); ok {
			continue
		}
		n++
		if ek == "" || im.knownEmail(ek) {
			continue
		}
		n++
		if ek != email {
			n++
		}
	}
	return n
}

func (im *importer) knownEmail(ek string) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	_, learned := im.byEmail[ek]
	_, registered := im.regByEmail[ek]
	return learned || registered
}

// buildIndex reads every profile of the account into the index. A read
// that fails or stops short is the run's error; a profile that comes back
// during the read (changed meanwhile: in dateModified order it moved
// behind the rows read, and a row after it may have moved into the part
// already read) leaves the index unused for this invocation.
func (im *importer) buildIndex(ctx context.Context) (stopped bool, err error) {
	idx := newProfileIndex()
	pages := 0
	for page, err := range im.ce.ProfilePages(ctx, im.acct) {
		if err != nil {
			return false, fmt.Errorf("import: index the profiles of account %s (page %d; the index is not used and no lead was matched from it): %w", im.acct, pages+1, err)
		}
		pages++
		for _, p := range page.Items {
			if !idx.add(im.refOf(p), p.Email, p.ExternalID) {
				im.plan.off = true
				im.rc.Logger.Warn("a profile changed while the account's profiles were read, so one may have been missed: searching profiles per lead in this invocation", "pin", p.PIN)
				return false, nil
			}
		}
		if !page.Last && im.rc.ShouldStop(ctx) {
			return true, nil
		}
	}
	im.index = idx
	im.rc.Run.Add(CountProfilesIndexed, idx.size())
	im.rc.Logger.Info("account's profiles indexed", "profiles", idx.size(), "pages", pages)
	return false, nil
}

// profilesByID returns the profiles holding External Profile ID = key,
// oldest dateModified first: from the index, or a search.
func (im *importer) profilesByID(ctx context.Context, key string) ([]profileRef, error) {
	if im.index != nil {
		return im.index.byID(key), nil
	}
	im.searches.Add(1)
	ps, err := im.ce.FindProfiles(ctx, im.acct, im.fields.ExternalID, key)
	if err != nil {
		return nil, fmt.Errorf("find profile by %s=%s: %w", im.fields.ExternalID, key, err)
	}
	refs := make([]profileRef, 0, len(ps))
	for _, p := range ps {
		refs = append(refs, im.refOf(p))
	}
	return refs, nil
}

// indexed files a profile the job created or wrote (email "": unchanged).
func (im *importer) indexed(ref profileRef, email, ext string) {
	if im.index != nil {
		im.index.put(ref, email, ext)
	}
}
