// Package demodata generates a believable, deterministic Certain account and
// the matching Marketo instance, for `make demo`, tests and benchmarks.
//
// The data is shaped to exercise every rule of the five jobs: duplicate
// e-mails that differ only in case, profiles already linked to Marketo,
// imported profiles and profiles from other sources, blank fields that must
// not blank Marketo, every standard registration status plus a custom one,
// inactive and incomplete registrations, agenda items and sessions with
// account-level tags and points, attendance with ratings, and appointments of
// both sources rated by one or both parties. On the Marketo side it holds
// leads (some sharing an e-mail, which provokes Marketo error 1007), a static
// list to import, trigger campaigns and a batch campaign, and the two custom
// object types the metrics jobs write.
//
// The generator is a pure function of Options: the same seed gives the same
// data set, byte for byte, so tests can assert on it and benchmarks compare
// like with like. Records are kept as compact structs; maps are only built
// when a simulator is seeded.
package demodata

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Options controls the generator. Zero values take the defaults noted.
type Options struct {
	Seed          int64
	Registrations int      // total over all events, default 1,000
	Account       string   // default "ACME"
	Events        []string // event codes, default ["HS26", "WS26"]; the first is the main event
	// EvenEvents splits the registrations evenly over the events instead
	// of giving the main event 70% (several jobs of one size on one account).
	EvenEvents bool
	// Start is the clock origin for dates, default 2026-03-01T00:00:00Z.
	Start time.Time
	// Fields are the Certain field names to write (default contract if zero).
	Fields certain.FieldNames
}

// Custom status added to the standard list (category accepted).
const CustomStatus = "VIP Guest"

// StandardStatuses is docs/certain.md §6, in table order.
var standardStatuses = []string{
	"New", "Requested Invitation", "Waitlist Hold", "Invited", "Invitation Sent", "Request Denied",
	"Pre-Registered", "Declined Invitation", "Cancelled", "No-show", "Attended",
}

// Statuses returns the standard statuses followed by CustomStatus.
func Statuses() []string { return append(append([]string(nil), standardStatuses...), CustomStatus) }

// Tags are the account-level tags used on agenda items and sessions.
func Tags() []string {
	return []string{"Security", "Cloud", "AI", "Data", "DevOps", "Leadership", "Networking"}
}

// Profile is one Certain profile.
type Profile struct {
	PIN, Email, FirstName, LastName, Organization, Position, Phone, City, Country string
	ExternalKey                                                                   string // Marketo lead id as a string, or ""
	Source                                                                        string // "Marketo", "Import", "Salesforce" or ""
	Modified                                                                      time.Time
	Answers                                                                       Answers // typed profile questions (typed.go)
}

// Registration is one registration of a profile for an event.
type Registration struct {
	Code, Event, PIN, AttendeeType, Status string
	Active, Complete                       bool
	Created, Modified                      time.Time
}

// Event is one Certain event.
type Event struct {
	Code, Name string
	Start, End time.Time
}

// AgendaItem is a v1 agenda item; Points < 0 means the field is missing.
type AgendaItem struct {
	Event, Code, Name string
	Tags              []string
	Points            int
}

// AgendaLine is a RegistrationAgenda row; Rating 0 = not rated.
type AgendaLine struct {
	Event, RegCode, ActivityCode, Status string
	Rating                               int
}

// Session is a Standard 2.0 session instance.
type Session struct {
	Event       string
	InstanceID  int
	Code, Title string
	Tags        []string
	Points      int
}

// SessionLine is a registration to a session instance; Rating 0 = null.
type SessionLine struct {
	Event      string
	InstanceID int
	RegCode    string
	Status     string // "Registered" or "Attended"
	Rating     int
}

// Appointment is one appointment between two registrations.
type Appointment struct {
	Event           string
	ID              int
	Source          string // "SSA" or "AME"
	Status          string // Scheduled, Attended, Cancelled, Declined
	RegCode, Target string
	RegName, TName  string
	Rating          [2]int // [by registration, by target]; 0 = not rated
}

// Lead is one Marketo lead.
type Lead struct {
	ID                                  int
	Email, FirstName, LastName, Company string
}

// Campaign is one Marketo smart campaign.
type Campaign struct {
	ID                  int
	Name, Type          string // "trigger" or "batch"
	Active, Requestable bool
}

// StaticList is a Marketo static list.
type StaticList struct {
	ID      int
	Name    string
	LeadIDs []int
}

// Marketo is the Marketo side of the data set.
type Marketo struct {
	Leads         []Lead
	List          StaticList
	Campaigns     []Campaign
	CustomObjects []marketo.CustomObjectType
}

// Dataset is a generated account.
type Dataset struct {
	Options       Options
	Account       string
	Events        []Event
	Profiles      []Profile
	Registrations []Registration
	AgendaItems   []AgendaItem
	AgendaLines   []AgendaLine
	Sessions      []Session
	SessionLines  []SessionLine
	Appointments  []Appointment
	Marketo       Marketo
}

// Demo is the small fixed data set `make demo` uses: account "ACME", the
// main event "HS26" (Horizon Summit 2026, about 70% of 300 registrations) and
// "WS26" (Winter Security Forum, the rest; some profiles registered for both),
// seed 2026. It contains every case the package doc lists.
func Demo() *Dataset {
	return Generate(Options{Seed: 2026, Registrations: 300})
}

var (
	firstNames = []string{"Lena", "Yu", "Amara", "Jonas", "Priya", "Mateo", "Sofia", "Kenji", "Chloe", "Omar", "Ingrid", "Tomas", "Aisha", "Liam", "Noor", "Elena", "Ravi", "Hana", "Diego", "Freya"}
	lastNames  = []string{"Ortiz", "Chen", "Okafor", "Berg", "Nair", "Rossi", "Novak", "Sato", "Dubois", "Haddad", "Larsen", "Silva", "Khan", "Murphy", "Aziz", "Petrov", "Iyer", "Kim", "Lopez", "Hansen"}
	orgs       = []string{"Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Umbrella Labs", "Stark Metals", "Wayne Logistics", "Acme Robotics", "Tyrell Data"}
	positions  = []string{"CTO", "Security Architect", "Data Engineer", "VP Marketing", "IT Manager", "Developer", "Product Manager", "CISO"}
	cities     = [][2]string{{"Berlin", "DE"}, {"Austin", "US"}, {"Lyon", "FR"}, {"Osaka", "JP"}, {"Toronto", "CA"}, {"Leeds", "GB"}, {"Porto", "PT"}}
	eventNames = map[string]string{"HS26": "Horizon Summit 2026", "WS26": "Winter Security Forum 2026"}
	topics     = []string{"Zero-trust networking", "Data mesh in practice", "LLMs at the edge", "Platform teams", "Cloud cost control", "Incident response drills", "Leading remote teams", "Observability 101"}
)

// statusWeights spread registrations over every status, most accepted.
var statusWeights = []struct {
	status string
	weight int
}{
	{"New", 3}, {"Requested Invitation", 2}, {"Waitlist Hold", 2}, {"Invited", 8}, {"Invitation Sent", 5},
	{"Request Denied", 2}, {"Pre-Registered", 40}, {"Declined Invitation", 3}, {"Cancelled", 6},
	{"No-show", 4}, {"Attended", 20}, {CustomStatus, 5},
}

// Generate builds a data set. It never fails: bad options are replaced by
// their defaults (negative sizes count as zero).
func Generate(o Options) *Dataset {
	if o.Registrations <= 0 {
		o.Registrations = 1000
	}
	if o.Account == "" {
		o.Account = "ACME"
	}
	if len(o.Events) == 0 {
		o.Events = []string{"HS26", "WS26"}
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	o.Fields = o.Fields.WithDefaults()
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed_ce47a1))
	d := &Dataset{Options: o, Account: o.Account}
	g := gen{d: d, rng: rng, o: o}
	g.events()
	g.profiles()
	g.registrations()
	g.agenda()
	g.sessions()
	g.appointments()
	g.marketo()
	return d
}

type gen struct {
	d   *Dataset
	rng *rand.Rand
	o   Options
}

func (g *gen) pct(p int) bool { return g.rng.IntN(100) < p }

func (g *gen) ts(maxDays int) time.Time {
	return g.o.Start.Add(time.Duration(g.rng.Int64N(int64(maxDays)*86400)) * time.Second)
}

func (g *gen) events() {
	for i, code := range g.o.Events {
		name := eventNames[code]
		if name == "" {
			name = "Event " + code
		}
		start := g.o.Start.AddDate(0, 2+i, 0)
		g.d.Events = append(g.d.Events, Event{Code: code, Name: name, Start: start, End: start.AddDate(0, 0, 2)})
	}
}

// profiles: P = 80% of registrations (at least the main event's share).
// 3% copy the previous profile's e-mail in upper case; 30% are linked to
// Marketo, 10% imported, 5% from Salesforce, the rest have no source; 6% have
// blank organisation, position and phone.
func (g *gen) profiles() {
	n := max(g.o.Registrations*8/10, g.mainCount(), 1)
	g.d.Profiles = make([]Profile, 0, n)
	for i := range n {
		fn, ln := firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
		org := orgs[g.rng.IntN(len(orgs))]
		city := cities[g.rng.IntN(len(cities))]
		p := Profile{
			PIN:       fmt.Sprintf("P-%06d", 10000+i),
			Email:     fmt.Sprintf("%s.%s%d@%s.example", strings.ToLower(fn), strings.ToLower(ln), i, strings.ToLower(strings.ReplaceAll(org, " ", ""))),
			FirstName: fn, LastName: ln, Organization: org, Position: positions[g.rng.IntN(len(positions))],
			Phone: fmt.Sprintf("+1-555-%04d", g.rng.IntN(10000)), City: city[0], Country: city[1],
			Modified: g.ts(60),
		}
		p.Answers = answersFor(i, p.Modified)
		if i > 0 && g.pct(3) {
			p.Email = strings.ToUpper(g.d.Profiles[i-1].Email)
		}
		if g.pct(6) {
			p.Organization, p.Position, p.Phone = "", "", ""
		}
		switch r := g.rng.IntN(100); {
		case r < 30:
			p.Source = g.o.Fields.SourceValueMarketo
			p.ExternalKey = strconv.Itoa(100000 + i)
		case r < 40:
			p.Source = g.o.Fields.SourceValueImport
		case r < 45:
			p.Source = "Salesforce"
		}
		g.d.Profiles = append(g.d.Profiles, p)
	}
}

func (g *gen) eventCounts() []int {
	e := len(g.o.Events)
	counts := make([]int, e)
	if e == 1 {
		counts[0] = g.o.Registrations
		return counts
	}
	counts[0] = g.o.Registrations * 7 / 10
	if g.o.EvenEvents {
		counts[0] = g.o.Registrations / e
	}
	rest := g.o.Registrations - counts[0]
	for i := 1; i < e; i++ {
		counts[i] = rest / (e - 1)
	}
	counts[e-1] += rest - rest/(e-1)*(e-1)
	return counts
}

func (g *gen) mainCount() int {
	m := 0
	for _, c := range g.eventCounts() {
		m = max(m, c)
	}
	return m
}

// registrations: event k takes a contiguous run of profiles starting at
// k×P/E (wrapping), so each profile registers at most once per event and
// some register for several. 3% inactive, 8% not complete.
func (g *gen) registrations() {
	total := 0
	for _, w := range statusWeights {
		total += w.weight
	}
	p := len(g.d.Profiles)
	g.d.Registrations = make([]Registration, 0, g.o.Registrations)
	seq := 0
	for k, count := range g.eventCounts() {
		off := k * p / len(g.o.Events)
		for j := range count {
			prof := g.d.Profiles[(off+j)%p]
			r := g.rng.IntN(total)
			status := ""
			for _, w := range statusWeights {
				if r < w.weight {
					status = w.status
					break
				}
				r -= w.weight
			}
			created := g.ts(30)
			att := "ATT"
			if g.pct(5) {
				att = "Exhibitor"
			}
			seq++
			g.d.Registrations = append(g.d.Registrations, Registration{
				Code: fmt.Sprintf("R-%07d", 100000+seq), Event: g.o.Events[k], PIN: prof.PIN, AttendeeType: att, Status: status,
				Active: !g.pct(3), Complete: !g.pct(8), Created: created,
				Modified: created.Add(time.Duration(g.rng.IntN(30*86400)) * time.Second),
			})
		}
	}
}

func accepted(status string) bool {
	switch status {
	case "Pre-Registered", "Attended", "No-show", CustomStatus:
		return true
	}
	return false
}

func (g *gen) pickTags() []string {
	tags := Tags()
	n := 1 + g.rng.IntN(3)
	g.rng.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
	return tags[:n]
}

// agenda: 12 items per event (points 5-25, every 6th item without points);
// each accepted registration has 0-4 lines, 55% REGISTERED, 30% ATTENDED,
// 10% CANCELLED, 5% WAITLISTED; 60% of attended lines are rated 1-5.
func (g *gen) agenda() {
	f := g.o.Fields
	for _, ev := range g.o.Events {
		for i := range 12 {
			pts := 5 * (1 + g.rng.IntN(5))
			if i%6 == 5 {
				pts = -1
			}
			g.d.AgendaItems = append(g.d.AgendaItems, AgendaItem{Event: ev, Code: fmt.Sprintf("%s-A%02d", ev, i+1),
				Name: topics[i%len(topics)], Tags: g.pickTags(), Points: pts})
		}
	}
	for _, r := range g.d.Registrations {
		if !accepted(r.Status) {
			continue
		}
		n := g.rng.IntN(5)
		first := g.rng.IntN(12)
		for j := range n {
			st := f.AgendaRegistered
			switch x := g.rng.IntN(100); {
			case x < 30:
				st = f.AgendaAttended
			case x < 40:
				st = f.AgendaCancelled
			case x < 45:
				st = f.AgendaWaitlisted
			}
			rating := 0
			if st == f.AgendaAttended && g.pct(60) {
				rating = 1 + g.rng.IntN(5)
			}
			g.d.AgendaLines = append(g.d.AgendaLines, AgendaLine{Event: r.Event, RegCode: r.Code,
				ActivityCode: fmt.Sprintf("%s-A%02d", r.Event, (first+j)%12+1), Status: st, Rating: rating})
		}
	}
}

// sessions: 8 per event; each accepted registration attends 0-3 sessions,
// 60% Registered / 40% Attended, half the attended lines rated.
func (g *gen) sessions() {
	f := g.o.Fields
	base := map[string]int{}
	for k, ev := range g.o.Events {
		base[ev] = 5000 + 100*k
		for i := range 8 {
			g.d.Sessions = append(g.d.Sessions, Session{Event: ev, InstanceID: base[ev] + i + 1, Code: fmt.Sprintf("S-%d", i+1),
				Title: topics[(i+3)%len(topics)], Tags: g.pickTags(), Points: 5 * (1 + g.rng.IntN(4))})
		}
	}
	for _, r := range g.d.Registrations {
		if !accepted(r.Status) {
			continue
		}
		n := g.rng.IntN(4)
		first := g.rng.IntN(8)
		for j := range n {
			st, rating := f.SessionRegistered, 0
			if g.pct(40) {
				st = f.SessionAttended
				if g.pct(50) {
					rating = 1 + g.rng.IntN(5)
				}
			}
			g.d.SessionLines = append(g.d.SessionLines, SessionLine{Event: r.Event, InstanceID: base[r.Event] + (first+j)%8 + 1,
				RegCode: r.Code, Status: st, Rating: rating})
		}
	}
}

// appointments: about one per ten accepted registrations, between two
// distinct accepted registrations of the same event; 50/50 SSA and AME;
// statuses 45% Scheduled, 35% Attended, 12% Cancelled, 8% Declined; attended
// ones are rated by both parties (40%), one party (40%) or none.
func (g *gen) appointments() {
	f := g.o.Fields
	byEvent := map[string][]int{}
	for i, r := range g.d.Registrations {
		if accepted(r.Status) {
			byEvent[r.Event] = append(byEvent[r.Event], i)
		}
	}
	names := map[string]string{}
	for _, p := range g.d.Profiles {
		names[p.PIN] = p.FirstName + " " + p.LastName
	}
	id := 88000
	for _, ev := range g.o.Events {
		regs := byEvent[ev]
		if len(regs) < 2 {
			continue
		}
		for range len(regs) / 10 {
			a := g.d.Registrations[regs[g.rng.IntN(len(regs))]]
			b := g.d.Registrations[regs[g.rng.IntN(len(regs))]]
			if a.Code == b.Code {
				continue
			}
			id++
			ap := Appointment{Event: ev, ID: id, RegCode: a.Code, Target: b.Code, RegName: names[a.PIN], TName: names[b.PIN]}
			ap.Source = f.AppointmentSSA[0]
			if g.pct(50) {
				ap.Source = f.AppointmentMatched[0]
			}
			switch x := g.rng.IntN(100); {
			case x < 45:
				ap.Status = "Scheduled"
			case x < 80:
				ap.Status = f.AppointmentAttended[0]
			case x < 92:
				ap.Status = "Cancelled"
			default:
				ap.Status = "Declined"
			}
			if ap.Status == f.AppointmentAttended[0] {
				switch x := g.rng.IntN(100); {
				case x < 40:
					ap.Rating = [2]int{1 + g.rng.IntN(5), 1 + g.rng.IntN(5)}
				case x < 60:
					ap.Rating[0] = 1 + g.rng.IntN(5)
				case x < 80:
					ap.Rating[1] = 1 + g.rng.IntN(5)
				}
			}
			g.d.Appointments = append(g.d.Appointments, ap)
		}
	}
}

// Marketo ids used by the data set.
const (
	ListID                = 1001
	CampaignRegistered    = 2001
	CampaignCancelled     = 2002
	CampaignAttended      = 2003
	CampaignInactive      = 2004
	CampaignBatchNurture  = 2010
	EngagementObject      = "CertainEngagementMetrics"
	InterestObject        = "CertainInterestPoints"
	firstUnlinkedLeadID   = 500000
	duplicateLeadIDOffset = 700000
)

// marketo: one lead per Marketo-linked profile (id = externalKey); one lead
// per imported or unlinked profile for 50% of them (same e-mail, so they
// match by e-mail); 2% of those leads get a second lead with the same e-mail
// (1007 on update by e-mail); new leads unknown to Certain (5% of
// registrations, at least 5). The static list holds, for the main event, a
// mix of linked, e-mail-only, already-registered and unknown leads.
func (g *gen) marketo() {
	m := &g.d.Marketo
	regMain := map[string]bool{}
	for _, r := range g.d.Registrations {
		if r.Event == g.o.Events[0] {
			regMain[r.PIN] = true
		}
	}
	var listLinked, listEmail, listRegistered []int
	for i, p := range g.d.Profiles {
		if p.ExternalKey != "" {
			id, _ := strconv.Atoi(p.ExternalKey)
			m.Leads = append(m.Leads, Lead{ID: id, Email: p.Email, FirstName: p.FirstName, LastName: p.LastName, Company: p.Organization})
			if regMain[p.PIN] {
				listRegistered = append(listRegistered, id)
			} else {
				listLinked = append(listLinked, id)
			}
			continue
		}
		if !g.pct(50) {
			continue
		}
		id := firstUnlinkedLeadID + i
		m.Leads = append(m.Leads, Lead{ID: id, Email: strings.ToLower(p.Email), FirstName: p.FirstName, LastName: p.LastName, Company: p.Organization})
		listEmail = append(listEmail, id)
		if g.pct(2) {
			m.Leads = append(m.Leads, Lead{ID: duplicateLeadIDOffset + i, Email: strings.ToLower(p.Email), FirstName: p.FirstName, LastName: p.LastName})
		}
	}
	var listNew []int
	for i := range max(5, g.o.Registrations/20) {
		fn, ln := firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
		id := 900000 + i
		m.Leads = append(m.Leads, Lead{ID: id, Email: fmt.Sprintf("%s.%s.new%d@prospect.example", strings.ToLower(fn), strings.ToLower(ln), i),
			FirstName: fn, LastName: ln, Company: orgs[g.rng.IntN(len(orgs))]})
		listNew = append(listNew, id)
	}
	take := func(ids []int, n int) []int { return ids[:min(n, len(ids))] }
	k := max(5, g.o.Registrations/50)
	m.List = StaticList{ID: ListID, Name: g.o.Events[0] + " Invitees", LeadIDs: append(append(append(append([]int(nil),
		take(listLinked, k)...), take(listEmail, k)...), take(listRegistered, k)...), take(listNew, k)...)}
	ev := g.o.Events[0]
	m.Campaigns = []Campaign{
		{ID: CampaignRegistered, Name: ev + " - Registered", Type: "trigger", Active: true, Requestable: true},
		{ID: CampaignCancelled, Name: ev + " - Cancelled", Type: "trigger", Active: true, Requestable: true},
		{ID: CampaignAttended, Name: ev + " - Attended", Type: "trigger", Active: true, Requestable: true},
		{ID: CampaignInactive, Name: ev + " - Old reminder", Type: "trigger", Active: false, Requestable: true},
		{ID: CampaignBatchNurture, Name: ev + " - Weekly nurture", Type: "batch", Active: true, Requestable: false},
	}
	field := func(name, typ string) marketo.CustomObjectField {
		return marketo.CustomObjectField{Name: name, DataType: typ, Updatable: true}
	}
	m.CustomObjects = []marketo.CustomObjectType{
		{Name: EngagementObject, IDField: "marketoGUID", DedupeFields: []string{"leadID", "eventCode"}, LinkField: "leadID", LinkTo: "id",
			Fields: []marketo.CustomObjectField{
				{Name: "leadID", DataType: "link"}, {Name: "eventCode", DataType: "string"},
				field("sessionsRegistered", "integer"), field("sessionsAttended", "integer"), field("averageSessionRating", "float"),
				field("ssaAppointments", "integer"), field("matchedAppointments", "integer"), field("appointmentsScheduled", "integer"),
				field("appointmentsAttended", "integer"), field("avgAppointmentRatingReceived", "float"), field("avgAppointmentRatingGiven", "float"),
			}},
		{Name: InterestObject, IDField: "marketoGUID", DedupeFields: []string{"leadID", "programName", "interest"}, LinkField: "leadID", LinkTo: "id",
			Fields: []marketo.CustomObjectField{
				{Name: "leadID", DataType: "link"}, {Name: "programName", DataType: "string"}, {Name: "interest", DataType: "string"},
				field("interestPoints", "integer"),
			}},
	}
}
