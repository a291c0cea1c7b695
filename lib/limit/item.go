package limit

// budgetItem is the DynamoDB item of one instance's budget (state table, pk
// "budget#<instance>", sk "budget"): the open blocks, the stamps of closed
// calls, the owner entries, the pacing schedule and the day count.
type budgetItem struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	Ver      int64  `dynamodbav:"ver"`
	Day      string `dynamodbav:"day"`
	DayCount int    `dynamodbav:"dayCount"`
	// Stamps: stamps of an older version of this package, owner unknown;
	// counted until they expire, never added to.
	Stamps []int64 `dynamodbav:"stamps,omitempty"`
	// Owned: the stamps of closed calls (answer+Window+Margin, ms), per
	// owner.
	Owned map[string][]int64 `dynamodbav:"ost"`
	// Tat: the pacing schedule's theoretical time of the next call (ms).
	Tat int64 `dynamodbav:"tat"`
	// Occ: the mean time a call counts in the window, from its block's
	// grant to its stamp (ms), averaged over recently closed blocks.
	Occ       int64            `dynamodbav:"occ"`
	Blocks    map[string]block `dynamodbav:"blocks"`
	Owners    map[string]owner `dynamodbav:"owners"`
	ExpiresAt int64            `dynamodbav:"expiresAt"`
}

// block is an open block of calls granted to one owner.
type block struct {
	Owner string `dynamodbav:"o"`
	N     int    `dynamodbav:"n"`
	End   int64  `dynamodbav:"e"` // ms; counts until then unless closed
	Day   string `dynamodbav:"d"`
}

// owner is one process's entry: its slot lease, its unmet want and its own
// pacing schedule.
type owner struct {
	Slots     int   `dynamodbav:"s"`
	Until     int64 `dynamodbav:"u"`  // slot lease (ms)
	Want      int   `dynamodbav:"w"`  // slots wanted but not granted
	WantUntil int64 `dynamodbav:"wu"` // the want counts until then (ms)
	Tat       int64 `dynamodbav:"t"`  // the owner's own pacing schedule (ms)
}
