package pipeline

import (
	"math"
	"testing"
	"testing/synctest"
)

// A small row runs every invocation to its end against the limited
// simulators, counts the calls both ways, and derives floor and bound from
// them as the report says.
func TestRowFigures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := DefaultSetup()
		row, err := Run(t.Context(), s, KindSync, 600, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(row.Errors) > 0 {
			t.Fatalf("errors: %v", row.Errors)
		}
		if row.Outcomes["registrationsRead"] == 0 || row.CertainCalls == 0 || row.MarketoCalls == 0 || row.WallSeconds <= 0 {
			t.Fatalf("row %+v: nothing measured", row)
		}
		done := row.Outcomes["created"] + row.Outcomes["updated"] + row.Outcomes["failed"] + row.Outcomes["unchanged"]
		if done != row.Outcomes["registrationsRead"] {
			t.Errorf("%d outcomes for %d registrations read (%v)", done, row.Outcomes["registrationsRead"], row.Outcomes)
		}
		want := max(row.MarketoFloorSeconds, row.CertainRateSeconds, row.CertainConcSeconds)
		if math.Abs(row.FloorSeconds-want) > 1e-9 {
			t.Errorf("floor %v, want the largest term %v", row.FloorSeconds, want)
		}
		if (row.Bound == "marketo") != (row.MarketoFloorSeconds >= max(row.CertainRateSeconds, row.CertainConcSeconds)) {
			t.Errorf("bound %s for terms %v / %v / %v", row.Bound, row.MarketoFloorSeconds, row.CertainRateSeconds, row.CertainConcSeconds)
		}
		if row.Certain429 > row.CertainCalls {
			t.Errorf("%d 429s for %d calls", row.Certain429, row.CertainCalls)
		}
	})
}

// The side-by-side row makes the same calls both ways; the script's, one
// after the other, take longer than the product's, several in flight.
func TestSideBySide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, err := RunSideBySide(t.Context(), DefaultSetup(), 3000)
		if err != nil {
			t.Fatal(err)
		}
		if sb.ScriptCalls != 10 || sb.ProductCalls != 10 {
			t.Errorf("calls: script %d, product %d; want 10 each (3,000 leads in batches of 300)", sb.ScriptCalls, sb.ProductCalls)
		}
		if sb.ScriptSeconds <= sb.ProductSeconds || sb.Ratio <= 1 {
			t.Errorf("script %.1fs, product %.1fs, ratio %.2f: sequential batches were not slower", sb.ScriptSeconds, sb.ProductSeconds, sb.Ratio)
		}
	})
}
