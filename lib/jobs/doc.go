// Package jobs holds the rules of the connector jobs, written over small
// interfaces (no AWS or HTTP types), and the executor that runs them.
//
// # Running a job
//
// Every scheduled job runs through Executor: a schedule tick lists the
// enabled jobs of its type, and for each one that is due it claims the job
// (a conditional write on the job's state version, so overlapping ticks run
// a job once), loads the job's checkpoint, runs the job's function, records
// the run and its per-record outcomes, and releases the claim with the time
// the job is next due. A direct invoke runs one named job now through the
// same path.
//
// A job function watches RunContext.ShouldStop: once the soft deadline (the
// invocation deadline less a margin) has passed it saves a checkpoint with
// RunContext.SaveCheckpoint and returns ErrCheckpointed. The executor then
// records the run as checkpointed and leaves the job due at once, so the next
// tick continues it. Marketo's daily quota (marketo.ErrDailyQuota) stops a
// run the same way, and the job is next due when the quota resets.
//
// # Engagement and interest metrics
//
// engagement-metrics (EngagementMetrics) and interest-metrics
// (InterestMetrics) turn what attendees did at an event into Marketo custom
// object records that drive behavioural scoring. Both read every input once
// per run, fold it into small per-registration counters (never raw lines,
// so an event of 100,000 registrations fits in memory), then stream the
// registrations and upload 300 records per Sync Custom Objects call.
//
// Status names, ratings, appointment sources and the like are compared
// case-insensitively after trimming, using the connection's Certain field
// names (certain.FieldNames; defaults in docs/certain.md §9).
//
// Engagement metrics, per registration (docs/jobs.md §4):
//
//   - Sessions come from agenda lines (RegistrationAgenda), or from the
//     session registrations of every session when Speaker and Session
//     Management is enabled.
//   - Sessions Registered: lines whose status is neither the cancelled nor
//     the waitlisted status (so Registered and Attended both count).
//   - Sessions Attended: lines whose status is the attended status.
//   - Average Session Rating: the mean of the ratings > 0 of the lines that
//     count as registered; unrated lines are ignored.
//   - An appointment is SSA when its source is one of the SSA sources,
//     matched when its source is one of the matched sources, whichever
//     appointment modules are on; any other appointment is not counted (run
//     count "appointmentsNotCounted"). Appointments whose status is a
//     not-scheduled status (Cancelled, Declined) are not counted at all.
//   - SSA Appointments, Matched Appointments: counted appointments of that
//     kind in which the attendee is either party (registration or target).
//   - Appointments Scheduled: SSA + matched, both kinds the data holds
//     whenever either appointment module is on (the topic's "total, i.e.
//     both Matched and SSA"). Appointments Attended: those of them whose
//     status is an attended status. The ratings (8, 9) are over both kinds
//     too; which of SSA (4) and Matched (5) is sent follows the modules.
//   - Average Appointment Rating Given / Received: over counted
//     appointments, the mean of the attendee's own rating position (given)
//     or the other party's (received), ignoring 0 (not rated).
//   - Averages are rounded to two decimals; with nothing rated the field is
//     written as null. Counts with no activity are 0: every included
//     attendee gets a record.
//   - A metric whose modules (engagementGating, the table of docs/jobs.md
//     §4) are not all enabled is not sent at all, and the inputs only
//     it needs are not read.
//   - Registrations included: active, with a status whose category is in
//     Params.Categories (default accepted and pending).
//
// Interest metrics, per registration and tag (docs/jobs.md §5):
//
//   - Items are agenda items, or sessions when Params.Modules has Speaker and
//     Session Management. An item's tags (optionally limited by
//     Params.TagAllowList, case-insensitive) each get the item's points.
//   - Lines count by status: "registered" in Params.Include selects lines
//     whose status is the registered status, "attended" those whose status
//     is the attended status.
//   - Interest Points = the sum of the points of the selected items, per tag,
//     rounded to two decimals. A tag with nothing is not sent, unless it was
//     sent with points before: then it is sent once as 0.
//   - Registrations included: Complete, active, and a status whose category
//     is in Params.Categories (default accepted and pending). An attendee who
//     leaves that set has the tags sent before set to 0.
//
// Custom objects and field names. Params.Fields maps logical names to field
// API names; a logical name not given takes its default, and the value "-"
// leaves a field out (any but the lead link):
//
//	engagement (default object CertainEngagementMetrics)
//	  lead        the object's Lead link field (required)      lead id
//	  key         metricKey (optional)                        "<eventCode>:<leadId>"
//	  event       eventCode (optional)                        event code
//	  programName programName (optional)                      event name
//	  sessionsRegistered ... avgAppointmentRatingGiven        same names (required when enabled)
//	interest (default object CertainInterestPoints)
//	  lead        the object's Lead link field (required)      lead id
//	  key         interestKey (optional)                      "<eventCode>:<leadId>:<tag>"
//	  event       eventCode (optional)                        event code
//	  programName programName (required)                      event name (Program Name)
//	  interest    interest (required)                         tag name (Interest)
//	  points      interestPoints (required)                   points (Interest Points)
//
// An optional default field the object lacks is simply not sent. Describe
// runs first in every run: a missing object, a missing required or
// explicitly mapped field, a lead field that is not the object's Lead link,
// or a dedupe field that no mapped field fills is a configuration error
// before anything is written.
//
// Lead ids come from External Profile ID when Source of Profile is Marketo;
// otherwise the shared lead resolution looks the lead up by e-mail or
// creates it and writes the id back to Certain.
//
// Delta. The last sent hash of every record is kept in store.Hashes under
// scope "job:<id>", key "r:" + the record's dedupe values; a record whose
// hash is unchanged is not sent (outcome "unchanged") unless
// Params.ForceFull. For interest, "m:<registrationCode>" holds the tags sent
// with points > 0 per lead id; a tag in it that has nothing now is sent as
// 0 and then dropped from it.
//
// One lead, two registrations. Two profiles sharing an e-mail (differing in
// case, say) resolve to one lead and so to one record key. The first
// registration in registration order owns the record; the others are
// recorded as skipped, naming the owner, so the two never overwrite each
// other run after run. The owner is stored with the hash ("<hash> <code>").
//
// Permanent failures, when the job sets retryFailuresAfter (by default every
// failure is retried next run): a lead that cannot be resolved because
// several Marketo leads share the e-mail (1007), or because an update-only
// profile has no lead (1004), is remembered under "l:<registrationCode>"
// and not looked up again for that long unless its
// e-mail, External Profile ID or Source of Profile changes; a record
// Marketo refuses for good is remembered in its "r:" entry likewise. Both
// are reported in every run with their code and reason.
//
// Checkpoints hold the offset of the first registration not yet uploaded.
// A continued run reads the activity inputs again (they cost Certain calls
// only), then resumes the registrations at that offset.
package jobs
