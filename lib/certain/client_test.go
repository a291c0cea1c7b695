package certain_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

var t0 = time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)

func newPair(t *testing.T, opts ...certaintest.Option) (*certaintest.Server, *certain.Client, *certaintest.Clock) {
	t.Helper()
	clk := certaintest.NewClock(t0)
	srv := certaintest.NewServer(t, append([]certaintest.Option{certaintest.WithClock(clk.Now)}, opts...)...)
	cfg := srv.Config()
	cfg.PageSize = 3
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, clk
}

func seedRegs(srv *certaintest.Server, clk *certaintest.Clock, n int) []string {
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26", "eventName": "Horizon Summit"})
	var codes []string
	for i := range n {
		pin := srv.AddProfile("ACME", map[string]any{"email": fmt.Sprintf("p%d@x.example", i), "externalKey": fmt.Sprint(3000 + i), "sourceOfProfile": "Marketo"})
		codes = append(codes, srv.AddRegistration("ACME", "HS26", pin, map[string]any{"registrationStatusLabel": "Invited", "isConfirmed": i%2 == 0}))
		clk.Advance(time.Minute)
	}
	return codes
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]certain.Config{
		"no url":      {Username: "u", Password: "p"},
		"plain http":  {BaseURL: "http://x.example", Username: "u", Password: "p"},
		"no password": {BaseURL: "https://x.example", Username: "u"},
		"bad paging":  {BaseURL: "https://x.example", Username: "u", Password: "p", PagingMode: "page0"},
	} {
		if _, err := certain.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestRegistrationPagingModes(t *testing.T) {
	for _, mode := range []string{"offset0", "offset1", "page1"} {
		t.Run(mode, func(t *testing.T) {
			srv, c, clk := newPair(t, certaintest.WithPagingMode(mode))
			codes := seedRegs(srv, clk, 7) // pages of 3, 3, 1
			var got []string
			var sizes []int
			last := false
			for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, len(p.Items))
				for _, r := range p.Items {
					got = append(got, r.Code)
				}
				if p.NextIndex != p.StartIndex+len(p.Items) || p.Total != 7 {
					t.Errorf("page %+v: bad indexes", p)
				}
				last = p.Last
			}
			if strings.Join(got, ",") != strings.Join(codes, ",") {
				t.Errorf("codes %v, want %v", got, codes)
			}
			if fmt.Sprint(sizes) != "[3 3 1]" || !last {
				t.Errorf("page sizes %v last=%v, want [3 3 1] and a Last page", sizes, last)
			}
			if n := srv.CountCalls("GET", "Registration/ACME/HS26"); n != 3 {
				t.Errorf("%d GET calls, want 3", n)
			}
		})
	}
}

func TestEmptyCollectionAnd404(t *testing.T) {
	srv, c, clk := newPair(t)
	seedRegs(srv, clk, 0)
	pages := 0
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Items) != 0 || !p.Last {
			t.Errorf("page %+v, want one empty Last page", p)
		}
	}
	if pages != 1 {
		t.Errorf("%d pages, want 1", pages)
	}
	ps, err := c.FindProfiles(context.Background(), "ACME", "email", "nobody@x.example")
	if err != nil || len(ps) != 0 {
		t.Errorf("FindProfiles no match = %v, %v; want empty, nil", ps, err)
	}
	_, err = c.GetRegistration(context.Background(), "ACME", "HS26", "R-404")
	if !certain.IsNotFound(err) {
		t.Errorf("GetRegistration missing: %v, want IsNotFound", err)
	}
}

func TestFiltersAndResume(t *testing.T) {
	srv, c, clk := newPair(t)
	codes := seedRegs(srv, clk, 6)
	// Registrations were stamped t0, t0+1m, ..., so after t0+2m leaves 3..5.
	var got []string
	var firstNext int
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{ModifiedAfter: t0.Add(2 * time.Minute)}) {
		if err != nil {
			t.Fatal(err)
		}
		if firstNext == 0 {
			firstNext = p.NextIndex
		}
		for _, r := range p.Items {
			got = append(got, r.Code)
			if !r.DateModified.After(t0.Add(2 * time.Minute)) {
				t.Errorf("%s modified %v not strictly after filter", r.Code, r.DateModified)
			}
		}
	}
	if strings.Join(got, ",") != strings.Join(codes[3:], ",") {
		t.Errorf("modified-after = %v, want %v", got, codes[3:])
	}
	// Resume from offset 3 reads the rest only.
	var resumed []string
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{StartIndex: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			resumed = append(resumed, r.Code)
		}
	}
	if strings.Join(resumed, ",") != strings.Join(codes[3:], ",") {
		t.Errorf("resume = %v, want %v", resumed, codes[3:])
	}
	// Scalar filter on the complete flag.
	n := 0
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{Filters: map[string]string{"isConfirmed": "true"}}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			if !r.Complete {
				t.Errorf("%s not complete", r.Code)
			}
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d complete registrations, want 3", n)
	}
	if !strings.Contains(srv.Calls()[len(srv.Calls())-1].Query, "orderBy=dateModified_asc") {
		t.Errorf("query %q lacks orderBy", srv.Calls()[0].Query)
	}
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	srv, c0, clk := newPair(t)
	seedRegs(srv, clk, 1)
	_ = c0
	var waits []time.Duration
	var mu sync.Mutex
	cfg := srv.Config()
	cfg.Now = clk.Now
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return clk.Sleep(ctx, d)
	}
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext("Event/ACME", 1, http.StatusTooManyRequests, 7*time.Second)
	srv.FailNext("Event/ACME", 1, http.StatusServiceUnavailable, 0)
	ev, err := c.GetEvent(context.Background(), "ACME", "HS26")
	if err != nil || ev.Name != "Horizon Summit" {
		t.Fatalf("GetEvent = %+v, %v", ev, err)
	}
	if len(waits) != 2 || waits[0] != 7*time.Second || waits[1] < 2*time.Second || waits[1] > 4*time.Second {
		t.Errorf("waits %v, want [7s, 2-4s back-off for the second attempt]", waits)
	}
	st := c.Stats()
	if st.Retries != 2 || st.ByCode[429] != 1 || st.ByCode[503] != 1 || st.ByPath["GET Event"] != 3 {
		t.Errorf("stats %+v", st)
	}
	// The 429 and the 503 are one congestion event each (the retry started
	// after the first cut): the limit went 4 → 3 → 2; the Retry-After
	// paused the client (the retry included) for 7 s.
	if st.Throttled != 2 || st.Cuts != 2 || st.Limit != 2 || st.Paused != 7*time.Second {
		t.Errorf("throttled %d, cuts %d, limit %d, paused %s; want 2, 2, 2 and 7s", st.Throttled, st.Cuts, st.Limit, st.Paused)
	}
	// A create is not retried on 5xx (it may have happened), only on 429.
	srv.FailNext("Profile/ACME", 1, http.StatusInternalServerError, 0)
	_, err = c.CreateProfile(context.Background(), "ACME", map[string]any{"email": "new@x.example"})
	var ce *certain.Error
	if !errors.As(err, &ce) || ce.Status != 500 || ce.Resource != "Profile" || ce.Method != "POST" {
		t.Errorf("create after 500: %v, want *Error 500 POST Profile", err)
	}
	if n := len(srv.Profiles("ACME")); n != 1 {
		t.Errorf("%d profiles, want 1 (no create happened)", n)
	}
}

func TestDroppedConnectionRetriedForReads(t *testing.T) {
	srv, c, clk := newPair(t)
	codes := seedRegs(srv, clk, 1)
	srv.DropNext("Registration/", 1)
	r, err := c.GetRegistration(context.Background(), "ACME", "HS26", codes[0])
	if err != nil || r.Code != codes[0] {
		t.Fatalf("GetRegistration after drop = %+v, %v", r, err)
	}
}

func TestBadCredentials(t *testing.T) {
	srv := certaintest.NewServer(t)
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	cfg := srv.Config()
	cfg.Password = "wrong-secret-value"
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEvent(context.Background(), "ACME", "HS26")
	if !errors.Is(err, certain.ErrBadCredentials) {
		t.Fatalf("err %v, want ErrBadCredentials", err)
	}
	if !strings.Contains(err.Error(), srv.Username()) || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("error %q must name the user and not the password", err)
	}
	if c.Stats().Retries != 0 {
		t.Errorf("401 was retried")
	}
}

func TestProfilesCreateFindPartialUpdate(t *testing.T) {
	srv, c, _ := newPair(t)
	ctx := context.Background()
	srv.AddAccount("ACME")
	p, err := c.CreateProfile(ctx, "ACME", map[string]any{"email": "Lena@X.example", "firstName": "Lena", "organization": "Northwind"})
	if err != nil || p.PIN == "" {
		t.Fatalf("create = %+v, %v", p, err)
	}
	srv.AddProfile("ACME", map[string]any{"email": "lena@x.example", "firstName": "Other"})
	found, err := c.FindProfiles(ctx, "ACME", "email", "LENA@x.example")
	if err != nil || len(found) != 2 {
		t.Fatalf("find by email (case-insensitive) = %d profiles, %v; want 2", len(found), err)
	}
	if err := c.UpdateProfile(ctx, "ACME", p.PIN, map[string]any{"externalKey": "3107", "sourceOfProfile": "Marketo"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetProfile(ctx, "ACME", p.PIN)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExternalID != "3107" || got.Source != "Marketo" || got.Get("organization") != "Northwind" || got.Get("firstName") != "Lena" {
		t.Errorf("after partial update: %+v", got)
	}
	last := srv.Calls()[len(srv.Calls())-2] // the update POST
	if last.Method != "POST" || !strings.HasSuffix(last.Path, "/Profile/ACME/"+p.PIN) {
		t.Errorf("update call %+v", last)
	}
	byKey, err := c.FindProfiles(ctx, "ACME", c.Fields().ExternalID, "3107")
	if err != nil || len(byKey) != 1 || byKey[0].PIN != p.PIN {
		t.Errorf("find by external id = %+v, %v", byKey, err)
	}
}

func TestRegistrationCreateUpdateAndCustomFields(t *testing.T) {
	fields := certain.FieldNames{RegistrationStatus: "statusName", Complete: "isComplete", ExternalID: "marketoId", Source: "profileSource"}
	srv, c, clk := newPair(t, certaintest.WithFieldNames(fields))
	ctx := context.Background()
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	pin := srv.AddProfile("ACME", map[string]any{"email": "a@x.example", "marketoId": "77", "profileSource": "Import"})
	r, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: pin, Status: "Invited", AttendeeType: "ATT"})
	if err != nil || r.Code == "" || r.Status != "Invited" || r.Profile.ExternalID != "77" || r.Profile.Source != "Import" {
		t.Fatalf("create = %+v, %v", r, err)
	}
	if _, err := c.CreateRegistration(ctx, "ACME", "HS26", certain.NewRegistration{PIN: pin}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second registration: %v, want a 400 naming the rule", err)
	}
	clk.Advance(time.Hour)
	if err := c.UpdateRegistration(ctx, "ACME", "HS26", r.Code, map[string]any{"isComplete": true}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRegistration(ctx, "ACME", "HS26", r.Code)
	if err != nil || !got.Complete || got.Status != "Invited" || !got.DateModified.Equal(t0.Add(time.Hour)) {
		t.Errorf("after update: %+v, %v", got, err)
	}
	srv.SetRegistrationStatus("ACME", "HS26", r.Code, "Pre-Registered")
	got, _ = c.GetRegistration(ctx, "ACME", "HS26", r.Code)
	if got.Status != "Pre-Registered" {
		t.Errorf("status %q after SetRegistrationStatus", got.Status)
	}
}

func TestAgendaSessionsAppointments(t *testing.T) {
	srv, c, _ := newPair(t)
	ctx := context.Background()
	srv.AddEvent("ACME", map[string]any{"eventCode": "HS26"})
	srv.AddAgendaItem("ACME", "HS26", map[string]any{"activityCode": "WS-204", "name": "Zero trust", "tag": []string{"Security", "Cloud"}, "points": 15})
	srv.AddAgendaItem("ACME", "HS26", map[string]any{"activityCode": "WS-205", "name": "Old", "isActive": false})
	srv.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": "R-1", "activityCode": "WS-204", "status": "ATTENDED", "rating": 4})
	srv.AddAgendaLine("ACME", "HS26", map[string]any{"registrationCode": "R-2", "activityCode": "WS-204", "status": "REGISTERED", "rating": nil})
	id := srv.AddSession("ACME", "HS26", map[string]any{"sessionCode": "KEY-1", "sessionTitle": "Keynote", "tag": []string{"AI"}, "points": 10})
	srv.AddSessionLine("ACME", "HS26", id, map[string]any{"registrationCode": "R-1", "registrationStatus": "Attended", "rating": 5})
	srv.AddAppointment("ACME", "HS26", map[string]any{"status": "Attended", "appointmentSource": "AME", "appointmentRating": []int{4, 5},
		"registration": map[string]any{"regCode": "R-1"}, "targetRegistration": map[string]any{"regCode": "R-2"}})

	var items []certain.AgendaItem
	for p, err := range c.AgendaItemPages(ctx, "ACME", "HS26") {
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, p.Items...)
	}
	if len(items) != 1 || items[0].Points != 15 || strings.Join(items[0].Tags, ",") != "Security,Cloud" {
		t.Errorf("agenda items %+v, want the active one with tags and points", items)
	}
	var lines []certain.AgendaLine
	for p, err := range c.RegistrationAgendaPages(ctx, "ACME", "HS26", 0) {
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, p.Items...)
	}
	if len(lines) != 2 || lines[0].Rating != 4 || lines[1].Rating != 0 || lines[0].Status != "ATTENDED" {
		t.Errorf("agenda lines %+v", lines)
	}
	one, err := c.RegistrationAgenda(ctx, "ACME", "HS26", "R-2")
	if err != nil || len(one) != 1 || one[0].Status != "REGISTERED" {
		t.Errorf("per-registration agenda %+v, %v", one, err)
	}
	var sessions []certain.Session
	for p, err := range c.SessionPages(ctx, "ACME", "HS26") {
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, p.Items...)
	}
	if len(sessions) != 1 || sessions[0].InstanceID != id || sessions[0].Tags[0] != "AI" || sessions[0].Points != 10 {
		t.Errorf("sessions %+v", sessions)
	}
	sl, err := c.SessionRegistrations(ctx, "ACME", "HS26", id)
	if err != nil || len(sl) != 1 || sl[0].Rating != 5 || sl[0].SessionCode != "KEY-1" || sl[0].Status != "Attended" {
		t.Errorf("session registrations %+v, %v", sl, err)
	}
	rs, err := c.RegistrationSessions(ctx, "ACME", "HS26", "R-1")
	if err != nil || len(rs) != 1 || rs[0].InstanceID != id {
		t.Errorf("registration sessions %+v, %v", rs, err)
	}
	none, err := c.RegistrationSessions(ctx, "ACME", "HS26", "R-9")
	if err != nil || len(none) != 0 {
		t.Errorf("no sessions: %+v, %v", none, err)
	}
	var appts []certain.Appointment
	for p, err := range c.AppointmentPages(ctx, "ACME", "HS26", 0) {
		if err != nil {
			t.Fatal(err)
		}
		appts = append(appts, p.Items...)
	}
	if len(appts) != 1 || appts[0].Rating != [2]float64{4, 5} || appts[0].RegCode != "R-1" || appts[0].TargetCode != "R-2" || appts[0].Source != "AME" {
		t.Errorf("appointments %+v", appts)
	}
}

func TestMaxInFlightBoundsConcurrency(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithLatency(20*time.Millisecond))
	codes := seedRegs(srv, clk, 1)
	cfg := srv.Config()
	cfg.MaxInFlight = 2
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if err := c.UpdateRegistration(context.Background(), "ACME", "HS26", codes[0], map[string]any{"note": "x"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// 6 calls, 2 at a time, 20 ms each: at least 3 rounds.
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("6 calls took %v with MaxInFlight 2; want >= 60ms", d)
	}
}
