package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/marketo"
	"github.com/certain-marketo/certain-marketo/lib/store"
)

var testMapping = []config.FieldMap{
	{Certain: "email", Marketo: "email"},
	{Certain: "firstName", Marketo: "firstName"},
	{Certain: "organization", Marketo: "company"},
	{Certain: "registration.attendeeTypeCode", Marketo: "title"},
}

func testRC(mk Marketo, ct Certain) *RunContext {
	return &RunContext{
		Job:     config.Job{ID: "sync", Account: "ACME", Event: "HS26", Type: config.TypeSyncLeads},
		Conn:    config.Connection{Account: "ACME", FieldMapping: testMapping},
		Clients: Clients{Marketo: mk, Certain: ct},
		Run:     NewRecorder(nil, store.Run{ID: "r1"}),
		Logger:  slog.New(slog.DiscardHandler),
	}
}

// TestRulesABC walks every combination of External Profile ID, Source of
// Profile and Marketo state through the rules and checks the Marketo
// action, the outcome and the Certain write-back. With leads=0 the stored id
// 3107 is dead: under Source Marketo the profile is then handled as one
// without an id (created, and the new id written back).
func TestRulesABC(t *testing.T) {
	const existingID = 3107
	for _, ext := range []string{"", strconv.Itoa(existingID)} {
		for _, src := range []string{"", "Import", "Marketo", "Salesforce"} {
			for leads := 0; leads <= 2; leads++ {
				t.Run(fmt.Sprintf("ext=%q/src=%q/leads=%d", ext, src, leads), func(t *testing.T) {
					mk, ct := newFakeMarketo(), newFakeCertain()
					for i := range leads {
						l := marketo.Lead{"email": "Lena.Ortiz@example.net", "company": "Northwind"}
						if i == 0 {
							l["id"] = existingID
						}
						mk.add(l)
					}
					r := reg("R-1", "P-1", "lena.ortiz@example.net", ext, src, "Pre-Registered", map[string]any{"firstName": "Lena"})
					ct.regs = []certain.Registration{r}
					ops := newLeadOps(testRC(mk, ct))
					regs := []*certain.Registration{&r}
					res, err := ops.syncLeads(context.Background(), regs)
					if err != nil {
						t.Fatal(err)
					}
					got := res[0]

					// Expected per the rules.
					upsert := ext == "" || src == "Import"
					updateOnly := !upsert && (src == "" || src == "Marketo")
					staleHealed := updateOnly && src == "Marketo" && leads == 0
					var wantAction, wantOutcome, wantCode string
					wantID := 0
					switch {
					case !upsert && !updateOnly:
						wantOutcome = store.OutcomeSkipped
					case leads == 2:
						wantOutcome, wantCode = store.OutcomeFailed, "1007"
					case leads == 1:
						wantOutcome, wantID = store.OutcomeUpdated, existingID
					case upsert, staleHealed:
						wantOutcome, wantID = store.OutcomeCreated, 5001
					default:
						wantOutcome, wantCode = store.OutcomeSkipped, "1004"
					}
					switch {
					case upsert:
						wantAction = marketo.ActionCreateOrUpdate
					case updateOnly:
						wantAction = marketo.ActionUpdateOnly
					}

					if got.Outcome.Outcome != wantOutcome || got.Outcome.Code != wantCode || got.ID != wantID {
						t.Fatalf("outcome %+v id %d, want %s code %q id %d", got.Outcome, got.ID, wantOutcome, wantCode, wantID)
					}
					if (got.Outcome.Outcome == store.OutcomeSkipped || got.Outcome.Outcome == store.OutcomeFailed) && got.Outcome.Reason == "" {
						t.Errorf("no reason for %s", got.Outcome.Outcome)
					}
					switch {
					case wantAction == "":
						if len(mk.syncs) != 0 {
							t.Fatalf("skipped registration caused %d Sync Leads calls", len(mk.syncs))
						}
					case staleHealed:
						if len(mk.syncs) != 2 || mk.syncs[0].Action != marketo.ActionUpdateOnly || mk.syncs[1].Action != marketo.ActionCreateOrUpdate ||
							len(mk.idChecks) != 1 || !slices.Equal(mk.idChecks[0], []string{ext}) {
							t.Fatalf("sync calls %+v, id checks %v: want updateOnly (1004), the id check, then createOrUpdate", mk.syncs, mk.idChecks)
						}
						if !strings.Contains(got.Outcome.Reason, "stored Marketo id 3107 no longer exists") {
							t.Errorf("healed outcome reason %q does not name the stale id", got.Outcome.Reason)
						}
					default:
						if len(mk.syncs) != 1 || mk.syncs[0].Action != wantAction || mk.syncs[0].LookupField != "email" {
							t.Fatalf("sync calls %+v, want one %s by email", mk.syncs, wantAction)
						}
					}
					if leads == 0 && updateOnly && !staleHealed && len(mk.leads) != 0 {
						t.Fatal("update-only rule created a lead")
					}
					// Rule C: only after a create or update, only what differs.
					want := map[string]any{}
					if wantID > 0 {
						if ext != strconv.Itoa(wantID) {
							want["externalKey"] = strconv.Itoa(wantID)
						}
						if src != "Marketo" {
							want["sourceOfProfile"] = "Marketo"
						}
					}
					gotWB := ct.updates["P-1"]
					if len(want) == 0 {
						if ct.writes != 0 {
							t.Fatalf("unexpected write-back %v", gotWB)
						}
					} else if !maps.Equal(gotWB, want) || ct.writes != 1 {
						t.Fatalf("write-back %v (%d writes), want %v", gotWB, ct.writes, want)
					}
					if wantID > 0 && (regs[0].Profile.ExternalID != strconv.Itoa(wantID) || regs[0].Profile.Source != "Marketo") {
						t.Errorf("registration not updated in place: %+v", regs[0].Profile)
					}
					if got.Synced != (wantID > 0) {
						t.Errorf("Synced = %v", got.Synced)
					}
				})
			}
		}
	}
}

// TestBlankFieldsNotSent: a blank Certain value is left out of the payload,
// so the Marketo field keeps its value.
func TestBlankFieldsNotSent(t *testing.T) {
	mk, ct := newFakeMarketo(), newFakeCertain()
	id := mk.add(marketo.Lead{"email": "yu.chen@example.com", "company": "Contoso", "firstName": "Old"})
	r := reg("R-2", "P-2", "yu.chen@example.com", "", "", "Pre-Registered", map[string]any{"firstName": "Yu", "organization": "  "})
	ct.regs = []certain.Registration{r}
	res, err := newLeadOps(testRC(mk, ct)).syncLeads(context.Background(), []*certain.Registration{&r})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome.Outcome != store.OutcomeUpdated {
		t.Fatalf("outcome %+v", res[0].Outcome)
	}
	sent := mk.syncs[0].Input[0]
	if _, ok := sent["company"]; ok {
		t.Fatalf("blank organization sent as company: %v", sent)
	}
	if _, ok := sent["title"]; ok {
		t.Fatalf("missing registration field sent: %v", sent)
	}
	if mk.leads[id]["company"] != "Contoso" || mk.leads[id]["firstName"] != "Yu" {
		t.Fatalf("lead after sync: %v", mk.leads[id])
	}
}

// TestSameEmailTwiceInOneBatch: two registrations sharing an email (in any
// case) go as one input, so Marketo never answers 1036 or creates two leads.
func TestSameEmailTwiceInOneBatch(t *testing.T) {
	mk, ct := newFakeMarketo(), newFakeCertain()
	a := reg("R-A", "P-A", "sam@example.org", "", "", "Attended", map[string]any{"firstName": "Sam"})
	b := reg("R-B", "P-B", "SAM@example.org", "", "", "Attended", map[string]any{"organization": "Fabrikam"})
	ct.regs = []certain.Registration{a, b}
	res, err := newLeadOps(testRC(mk, ct)).syncLeads(context.Background(), []*certain.Registration{&a, &b})
	if err != nil {
		t.Fatal(err)
	}
	if len(mk.syncs) != 1 || len(mk.syncs[0].Input) != 1 {
		t.Fatalf("sync calls %+v, want one call with one input", mk.syncs)
	}
	if in := mk.syncs[0].Input[0]; in["firstName"] != "Sam" || in["company"] != "Fabrikam" {
		t.Fatalf("merged payload %v", in)
	}
	if len(mk.leads) != 1 || res[0].ID != res[1].ID || res[0].ID == 0 {
		t.Fatalf("leads %v, results %+v", mk.leads, res)
	}
	if ct.writes != 2 {
		t.Fatalf("%d write-backs, want one per profile", ct.writes)
	}
}

func TestBuildLeadPayload(t *testing.T) {
	r := reg("R-9", "P-9", "a@b.c", "", "", "Invited", map[string]any{
		"firstName": " Ana ", "lastName": "", "address": map[string]any{"city": "Oslo"}, "points": 12.5,
	})
	r.Fields["attendeeTypeCode"] = "VIP"
	got := BuildLeadPayload([]config.FieldMap{
		{Certain: "firstName", Marketo: "firstName"},
		{Certain: "lastName", Marketo: "lastName"},
		{Certain: "address.city", Marketo: "city"},
		{Certain: "registration.attendeeTypeCode", Marketo: "attendeeType"},
		{Certain: "points", Marketo: "score"},
		{Certain: "nickname", Marketo: "firstName"}, // second source for the same field: first non-blank wins
		{Certain: "registration.missing", Marketo: "x"},
	}, r)
	want := marketo.Lead{"firstName": "Ana", "city": "Oslo", "attendeeType": "VIP", "score": "12.5"}
	if !maps.Equal(got, want) {
		t.Fatalf("payload %v, want %v", got, want)
	}
}

func TestResolveLeadIDs(t *testing.T) {
	mk, ct := newFakeMarketo(), newFakeCertain()
	dup1 := mk.add(marketo.Lead{"email": "dup@example.org"})
	mk.add(marketo.Lead{"email": "dup@example.org"})
	found := mk.add(marketo.Lead{"email": "found@example.org"})
	mk.add(marketo.Lead{"id": 777, "email": "known@example.org"})
	regs := []certain.Registration{
		reg("R-known", "P1", "known@example.org", "777", "Marketo", "Invited", nil),
		reg("R-found", "P2", "found@example.org", "", "", "Invited", nil),
		reg("R-dup", "P3", "dup@example.org", "", "", "Invited", nil),
		reg("R-new", "P4", "new@example.org", "", "Import", "Invited", map[string]any{"firstName": "Nia"}),
		reg("R-upd", "P5", "nobody@example.org", "12", "", "Invited", nil),
		reg("R-other", "P6", "o@example.org", "SF-1", "Salesforce", "Invited", nil),
		reg("R-noemail", "P7", "", "", "", "Invited", nil),
	}
	for i := range 650 { // enough to need three lookups of 300
		regs = append(regs, reg(fmt.Sprintf("R-bulk-%d", i), fmt.Sprintf("PB%d", i), fmt.Sprintf("bulk%d@example.org", i), "", "", "Invited", nil))
	}
	ct.regs = regs
	rc := testRC(mk, ct)
	res, err := ResolveLeadIDs(context.Background(), rc, regs)
	if err != nil {
		t.Fatal(err)
	}
	ids, outs := res.IDs, res.Outs
	if ids["R-known"] != 777 || ids["R-found"] != found || ids["R-new"] == 0 {
		t.Fatalf("ids %v", ids)
	}
	if _, ok := ids["R-dup"]; ok {
		t.Fatal("duplicate-email registration got an id")
	}
	byKey := map[string]store.RecordOutcome{}
	for _, o := range outs {
		byKey[o.Key] = o
	}
	if o := byKey["R-dup"]; o.Outcome != store.OutcomeFailed || o.Code != "1007" {
		t.Errorf("R-dup outcome %+v", o)
	}
	if o := byKey["R-upd"]; o.Outcome != store.OutcomeSkipped {
		t.Errorf("R-upd (update only, no lead) outcome %+v", o)
	}
	for _, k := range []string{"R-other", "R-noemail"} {
		if o := byKey[k]; o.Outcome != store.OutcomeSkipped || o.Reason == "" {
			t.Errorf("%s outcome %+v", k, o)
		}
	}
	if len(ids)+len(outs) != len(regs) {
		t.Errorf("%d ids + %d outcomes for %d registrations", len(ids), len(outs), len(regs))
	}
	if len(mk.lookups) != 3 {
		t.Errorf("%d lookups for %d emails, want 3 (300 per call; the stored id is confirmed by its email in the same calls)", len(mk.lookups), 655)
	}
	if len(mk.syncs) != 3 || mk.syncs[0].Action != marketo.ActionCreateOnly {
		t.Errorf("create calls %d (action %q), want 3 createOnly calls for 651 new leads", len(mk.syncs), mk.syncs[0].Action)
	}
	if mk.leads[ids["R-new"]]["firstName"] != "Nia" {
		t.Errorf("created lead lacks mapped fields: %v", mk.leads[ids["R-new"]])
	}
	if w := ct.updates["P2"]; w["externalKey"] != strconv.Itoa(found) || w["sourceOfProfile"] != "Marketo" {
		t.Errorf("found lead not written back: %v", w)
	}
	if _, ok := ct.updates["P1"]; ok {
		t.Error("known Marketo id written back again")
	}
	_ = dup1
}
