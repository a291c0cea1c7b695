package jobs

import (
	"math"
	"testing"
)

func TestPayloadHash(t *testing.T) {
	a := PayloadHash(map[string]any{"email": "a@b.c", "firstName": "Ana", "n": 1})
	b := PayloadHash(map[string]any{"n": 1, "firstName": "Ana", "email": "a@b.c"})
	c := PayloadHash(map[string]any{"email": "a@b.c", "firstName": "Anna", "n": 1})
	if a != b {
		t.Fatalf("key order changed the hash: %s %s", a, b)
	}
	if a == c {
		t.Fatal("different values, same hash")
	}
	if len(a) != 32 {
		t.Fatalf("hash %q is not 32 hex digits", a)
	}
	// Values JSON cannot encode still hash, without panicking, and stably.
	if x, y := PayloadHash(math.NaN()), PayloadHash(math.Inf(1)); x == y || x == "" || x[0] != 'g' {
		t.Fatalf("non-JSON hashes %q %q", x, y)
	}
}
