package certain

import "testing"

// TestAheadWindow: the window narrows by one page per take that finds the
// last page fetched ahead already read, down to one; doubles on a take
// that had to wait, up to the read-ahead; and holds while the last page
// ahead is still being fetched.
func TestAheadWindow(t *testing.T) {
	done := func() *prefetch { p := &prefetch{done: make(chan struct{})}; close(p.done); return p }
	pending := func() *prefetch { return &prefetch{done: make(chan struct{})} }
	a := aheadState{window: 4} // a read starts at the client's read-ahead
	steps := []struct {
		waited bool
		last   *prefetch // the page ahead furthest along, nil for none
		want   int
	}{
		{false, done(), 3},    // narrows
		{false, done(), 2},    //
		{false, pending(), 2}, // the last page ahead is still on its way: holds
		{false, done(), 1},    //
		{false, done(), 1},    // never below one
		{false, nil, 1},       // nothing ahead: holds
		{true, nil, 2},        // waited: doubles
		{true, nil, 4},        //
		{true, nil, 4},        // never above the read-ahead
	}
	for i, s := range steps {
		a.pages = map[aheadKey]*prefetch{{5, 5}: done()} // an earlier page, read: not the last
		if s.last != nil {
			a.pages[aheadKey{50, 5}] = s.last
		} else {
			a.pages = map[aheadKey]*prefetch{}
		}
		a.adapt(4, s.waited)
		if a.window != s.want {
			t.Fatalf("step %d (waited %v): window %d, want %d", i, s.waited, a.window, s.want)
		}
	}
}
