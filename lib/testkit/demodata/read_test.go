package demodata

import (
	"context"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// TestReadLargeEventThroughClient pages the main event of a 10,000
// registration data set through the real client (skipped with -short).
func TestReadLargeEventThroughClient(t *testing.T) {
	if testing.Short() {
		t.Skip("large read")
	}
	d := Generate(Options{Seed: 4, Registrations: 10000})
	srv := certaintest.NewServer(t)
	if err := d.SeedCertain(srv); err != nil {
		t.Fatal(err)
	}
	c, err := certain.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := 0
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{ActiveOnly: true}) {
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Items)
	}
	want := 0
	for _, r := range d.Registrations {
		if r.Event == "HS26" && r.Active {
			want++
		}
	}
	if n != want {
		t.Errorf("read %d active HS26 registrations, want %d", n, want)
	}
	t.Logf("read %d registrations in %v (%d calls)", n, time.Since(start), c.Stats().Calls)
}
