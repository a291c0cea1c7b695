// Package limit holds the budgets of the two APIs: Shared, held in
// DynamoDB and shared by every Lambda that calls one Marketo instance
// (NewShared, a marketo.Budget) or one Certain account (NewSharedCertain,
// a certain.Budget), and InProcess, which paces one process only (make
// demo, single-instance tests). Marketo enforces 100 calls per sliding
// 20 s, 10 calls in flight and a daily quota per instance, for all
// integrations together; Certain publishes no limit but answers 429 when
// an account is overloaded. Lambdas scale out, so an in-process limiter
// cannot keep them under either. The rest of this documentation is about
// Shared.
//
// Files: config.go (Config, shared by both), certain.go (CertainConfig:
// a Certain account's budget), paced.go (its slots), item.go (the DynamoDB item), plan.go (the
// pure planner), dynamo.go (the DynamoDB requests), handout.go (handing
// calls and slots out to the process's goroutines), shared.go (the Shared
// type), inprocess.go (InProcess), factory.go (Mode and the Factory that
// makes either).
//
// # A Certain account's budget
//
// It is the same item, planner and leases with one difference: it is
// paced, not windowed. Certain publishes no window to stay under, so the
// ceiling is a rate the product sets itself, and a hard one: no sliding
// second sees more than CallsPerSecond call starts, across all processes
// (paced.go). A block's calls take the next slots of the shared schedule
// below, from its tat or now, whichever is later, and each starts at its
// own slot (Burst only lets a block be reserved ahead; nothing is banked
// while idle). No stamps are kept (the item stays small however fast the
// calls go). Slots, leases, blocks, fairness and the give-back at the end
// of an invocation are as for Marketo; a dead Lambda's slots come back
// when its lease lapses (LeaseTTL, 90 s by default), and its unused block
// costs the others at most Block calls of pace (its slots go back only
// when they are the schedule's tail). The adaptive limit inside
// each client (lib/certain) decides how much of this ceiling a process
// asks for.
//
// # Why leases of blocks and slots
//
// A write to DynamoDB per Marketo call (or three: grant, lease, release)
// makes every process fight over one item, and the round trips cost more
// than the calls they guard. Shared instead leases capacity to a process in
// bulk, and the process hands it out to its goroutines itself:
//
//   - Calls: one conditional write takes a block of k calls from the window
//     (k up to Config.Block, default CallsPer20s/10). The process hands them
//     out itself. A block counts in full, from its grant, until its holder
//     closes it; closing replaces it by one stamp per call actually made,
//     answer time + Window + Margin, and gives the unused calls back. Calls
//     not started within UseBy of the grant are not handed out any more.
//   - Concurrency: a process holds s of the instance's Concurrent slots
//     under a lease (its owner entry). It asks for as many as it has
//     goroutines wanting them, keeps them while busy, renews the lease when
//     a call starts with less than MaxCall of it left, and gives back
//     slots it has not needed for IdleGrace (or all of them on Close). A
//     process that gets fewer slots than it wants records its want; the
//     holders then trim themselves to a fair share (Concurrent divided by
//     the processes holding or wanting) at their next write.
//   - Pace: grants follow a schedule held in the item (tat, GCRA style):
//     one call per Delta = Occ/CallsPer20s, where Occ is the measured time
//     a call counts in the window (block grant to stamp end, at least
//     Window+Margin, averaged over closed blocks), with Burst calls allowed
//     ahead of it. The window thus refills as fast as it empties instead of
//     filling in one burst and then waiting, all together, for its first
//     stamps to leave (waves about Window+Margin+latency apart).
//   - Fairness: each process also has its own schedule (its owner entry's
//     t) at Delta times the number of active processes (holding or wanting
//     slots), so processes that all want more get equal shares; it may
//     borrow beyond it when no other holder is behind its own schedule.
//     Waiting processes are staggered (the one furthest behind first) so
//     that they rarely race for the same moment.
//   - A finished block is closed by the write of the next grant (it counts
//     the same as its stamps would until its first stamp nears its end),
//     unless it has unused calls to give back or nobody waits.
//   - Daily: dayCount counts calls granted on the current quota day
//     (Config.QuotaZone: America/Chicago or UTC-6; unused calls are refunded
//     on close); it restarts at 00:00 there,
//     when Marketo's quota resets. Acquire returns *marketo.QuotaError when
//     it is used up.
//
// # Why the limits hold
//
// The item (state table, pk "budget#<instance>", sk "budget") holds the
// open blocks, the stamps of closed calls, the owner entries and the day
// count. Marketo counts a call when it arrives, at some moment between our
// grant and the answer, and the call stays in Marketo's window for Window
// after that. An open block covers [grant, grant+UseBy+MaxCall+Window+
// Margin); a stamp covers a call until its answer+Window+Margin (Margin
// absorbs clock skew). The pace and the shares only delay grants; the
// limit rests on the count alone. A grant is written only if the calls counted now
// (open blocks plus live stamps) plus k fit in CallsPer20s. At any moment
// T, every call Marketo may count for T belongs to a block granted at or
// before T that still counts at T; the last of them was checked against all
// the others, so no sliding window at Marketo sees more than CallsPer20s.
// Slots: the sum of live leases never exceeds Concurrent, a process never
// has more calls in flight than it holds slots, and a lease always outlives
// the calls started under it by MaxCall, so a call in flight at Marketo
// always sits under a live lease, even if its Lambda died.
//
// A sum over a list cannot be a DynamoDB condition, so grants, closes and
// slot changes are a read-modify-write of the item, conditional on its
// version (ver), with the current item returned on a lost race (ALL_OLD),
// so a lost race costs no extra read. Lease renewal, the frequent write
// of a busy process, is an atomic UpdateItem (SET u, ADD ver) that needs no
// read. A process writes about once per block; a write that lost a race
// costs what a read would have, and returns the item.
//
// # Worst case when a Lambda dies
//
// Its open blocks keep counting until they expire: at most Block calls per
// block (the process holds one or two) are counted but never used, for
// UseBy+MaxCall+Window+Margin (about 148 s by default), which lowers
// everyone's rate by that much for that long. Its slots stay held until its
// lease expires: at most LeaseTTL (150 s), since a lease renewed when a call
// starts reaches at most LeaseTTL ahead. Nothing above the limits is ever
// granted; only capacity is lost for a while.
//
// Assumptions: the clocks of all Lambdas agree within Margin; a Marketo call
// is over at Marketo within MaxCall of its start (Marketo's longest server
// timeout is 120 s; the client's HTTP timeout must not be longer); the
// DynamoDB table applies a conditional write to one item atomically (moto
// does not under concurrent requests; see the tests).
package limit
