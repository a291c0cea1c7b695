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
package jobs
