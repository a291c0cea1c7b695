package recent

import "testing"

// TestMapKeepsTheLastKeys: a map of generations of 3 holds between 3 and 6
// keys, the ones added last, with their last values; Use keeps a key of the
// older generation through the next turn, Get does not.
func TestMapKeepsTheLastKeys(t *testing.T) {
	m := New[int, string](3)
	for k := 1; k <= 7; k++ {
		m.Add(k, "v")
	}
	// 1..3 were dropped when 7 started a third generation: 4..6 older, 7 newer.
	if n := m.Len(); n != 4 {
		t.Fatalf("Len %d after 7 keys in generations of 3, want 4", n)
	}
	for k := 1; k <= 7; k++ {
		if _, ok := m.Get(k); ok != (k >= 4) {
			t.Errorf("key %d held %v, want %v", k, ok, k >= 4)
		}
	}
	m.Add(5, "w") // a new value moves the key to the newer generation
	if v, _ := m.Get(5); v != "w" || m.Len() != 4 {
		t.Errorf("key 5 = %q with %d keys, want w with 4", v, m.Len())
	}
	if _, ok := m.Use(4); !ok {
		t.Fatal("Use(4): not held")
	}
	// The newer generation is full (7, 5, 4): the next key turns it over,
	// dropping 6, which was neither added again nor used.
	m.Add(8, "v")
	for k, want := range map[int]bool{4: true, 5: true, 6: false, 7: true, 8: true} {
		if _, ok := m.Get(k); ok != want {
			t.Errorf("after the turn: key %d held %v, want %v", k, ok, want)
		}
	}
	if n := m.Len(); n != 4 {
		t.Errorf("Len %d, want 4", n)
	}
	if z := New[string, int](0); z.n != 1 {
		t.Errorf("a generation of %d keys for n=0, want 1", z.n)
	}
}
