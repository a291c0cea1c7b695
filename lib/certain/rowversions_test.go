package certain

import (
	"strconv"
	"testing"
)

// The reader's record of rows read keeps the last rowWindow rows at least
// and 2 x rowWindow at most, whatever the read's size: a row read within
// the window is known with its version, and memory does not grow with the
// rows read.
func TestRowVersionsKeepTheLastRows(t *testing.T) {
	v := newRowVersions()
	const rows = 7*rowWindow + 123
	for i := range rows {
		v.set("R-"+strconv.Itoa(i), v.version(strconv.Itoa(i)))
		if n := v.rows.Len(); n > 2*rowWindow {
			t.Fatalf("after %d rows %d are kept, want at most %d", i+1, n, 2*rowWindow)
		}
	}
	for i := rows - rowWindow; i < rows; i++ {
		ver, ok := v.get("R-" + strconv.Itoa(i))
		if !ok || ver != v.version(strconv.Itoa(i)) {
			t.Fatalf("row %d of the last %d: %v %v, want known with its version", i, rowWindow, ver, ok)
		}
	}
	if _, ok := v.get("R-0"); ok {
		t.Error("the first row is still kept after 7 windows")
	}
	if _, ok := v.get("R-unseen"); ok {
		t.Error("a row never read is known")
	}
}
