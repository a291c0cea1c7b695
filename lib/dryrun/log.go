// Package dryrun holds the twins a dry run (a plan) works through: a Marketo
// client, a Certain client and a store that let every read through to the
// real service and record every write instead of making it, answering each
// write as the real service would as far as the reads can tell (a Sync
// Leads input whose e-mail has one lead is "updated", one with none
// "created" with a placeholder id, a profile create gets a placeholder pin).
// The jobs' rules run unchanged on them, so a plan is exactly what the rules
// decided, and nothing is written anywhere: no Marketo write, no Certain
// write, no state-table write (docs/operations.md §4).
//
// Each twin declares the full method set the jobs use (jobs.Marketo,
// jobs.Certain, store.Store) and implements every method itself, never by
// embedding: a method added to those interfaces fails to compile here until
// someone decides whether it reads or writes.
package dryrun

import (
	"slices"
	"sync"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// Log is what a dry run would have written, in the order the rules decided
// it. Safe for concurrent use (the jobs write back concurrently).
type Log struct {
	mu sync.Mutex
	w  Writes
}

// NewLog returns an empty log.
func NewLog() *Log { return &Log{} }

// Writes is a copy of everything recorded so far.
func (l *Log) Writes() Writes {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.w
	w.Leads = slices.Clone(w.Leads)
	w.Campaigns = slices.Clone(w.Campaigns)
	w.CustomObjects = slices.Clone(w.CustomObjects)
	w.Profiles = slices.Clone(w.Profiles)
	w.Registrations = slices.Clone(w.Registrations)
	return w
}

func (l *Log) add(f func(w *Writes)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.w)
}

// Writes lists the writes a real run would have made.
type Writes struct {
	// Calls counts the write calls a real run would have made.
	Calls         WriteCalls          `json:"calls"`
	Leads         []LeadWrite         `json:"leads,omitempty"`
	Campaigns     []CampaignRequest   `json:"campaigns,omitempty"`
	CustomObjects []RecordWrite       `json:"customObjects,omitempty"`
	Profiles      []ProfileWrite      `json:"profiles,omitempty"`
	Registrations []RegistrationWrite `json:"registrations,omitempty"`
	// State counts the state-table writes a real run would have made.
	State StateWrites `json:"state"`
}

// WriteCalls counts write calls by endpoint (the Marketo client sends 300
// leads or records, or 100 campaign leads, per call).
type WriteCalls struct {
	SyncLeads           int `json:"marketoSyncLeads"`
	RequestCampaign     int `json:"marketoRequestCampaign"`
	SyncCustomObjects   int `json:"marketoSyncCustomObjects"`
	ProfileCreates      int `json:"certainProfileCreates"`
	ProfileUpdates      int `json:"certainProfileUpdates"`
	RegistrationCreates int `json:"certainRegistrationCreates"`
}

// Marketo returns the Marketo write calls.
func (c WriteCalls) Marketo() int { return c.SyncLeads + c.RequestCampaign + c.SyncCustomObjects }

// Certain returns the Certain write calls.
func (c WriteCalls) Certain() int { return c.ProfileCreates + c.ProfileUpdates + c.RegistrationCreates }

// StateWrites counts what a real run would have written to the state table.
type StateWrites struct {
	Hashes        int `json:"hashes"`        // delta hashes (and remembered refusals) stored
	HashesDeleted int `json:"hashesDeleted"` // delta entries removed
	Checkpoints   int `json:"checkpoints"`   // checkpoint writes and deletes
	Idempotency   int `json:"idempotency"`   // idempotency record writes
	Runs          int `json:"runs"`          // run record writes
	Outcomes      int `json:"outcomes"`      // per-record outcomes stored
	Other         int `json:"other"`         // leases, watermarks, statuses
}

// FieldChange is one field a write would set: From is what the service
// holds now (nil when the record is new or the field is empty).
type FieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// LeadRef names a Marketo lead: an existing one by id, or one the run would
// create by its number in the plan (New, from 1).
type LeadRef struct {
	ID  int `json:"id,omitempty"`
	New int `json:"new,omitempty"`
}

// LeadWrite is one Sync Leads input and the answer Marketo would give.
type LeadWrite struct {
	Action string `json:"action"` // createOrUpdate, updateOnly, createOnly
	Email  string `json:"email"`  // the lookup value
	// Result is created, updated or skipped (with Code and Reason).
	Result string  `json:"result"`
	Lead   LeadRef `json:"lead,omitempty"`
	Code   string  `json:"code,omitempty"`
	Reason string  `json:"reason,omitempty"`
	// Changes are the fields the write would change (every field sent, for
	// a create); none for an update that changes nothing.
	Changes []FieldChange `json:"changes,omitempty"`
}

// CampaignRequest is one Request Campaign a real run would make (Marketo
// takes 100 leads per call; one request here may be several calls).
type CampaignRequest struct {
	Campaign int             `json:"campaign"`
	Leads    []LeadRef       `json:"leads"`
	Tokens   []marketo.Token `json:"tokens,omitempty"`
}

// RecordWrite is one custom object record a real run would send.
type RecordWrite struct {
	Object  string         `json:"object"`
	Result  string         `json:"result"` // created, updated or skipped
	Code    string         `json:"code,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Values  marketo.Record `json:"values"`
	Changes []FieldChange  `json:"changes,omitempty"` // of an update: the values that differ
}

// ProfileWrite is a Certain profile a real run would create (New > 0, PIN
// is a placeholder) or update.
type ProfileWrite struct {
	// Create: a new profile (New is its number in the plan).
	Create bool           `json:"create,omitempty"`
	PIN    string         `json:"pin,omitempty"`
	New    int            `json:"new,omitempty"`
	Fields map[string]any `json:"fields"`
}

// RegistrationWrite is a Certain registration a real run would create.
type RegistrationWrite struct {
	Event        string `json:"event"`
	PIN          string `json:"pin,omitempty"`
	NewProfile   int    `json:"newProfile,omitempty"` // the profile is one the run would create
	Status       string `json:"status,omitempty"`
	AttendeeType string `json:"attendeeType,omitempty"`
}
