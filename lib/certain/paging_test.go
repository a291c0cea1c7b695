package certain_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/certain"
	"github.com/certain-marketo/certain-marketo/lib/certain/certaintest"
)

// TestPagingEveryTenantVariant reads seven registrations in pages of three
// from every server a tenant could be (paging mode, lenient or strict about
// start_index 0, a silent page cap) with every client paging mode. The read
// is complete and in order when the modes agree; otherwise it stops with a
// contract error that names the tenant's real mode, and every row it
// handed out before stopping is a real, distinct row: never a silent
// partial read.
func TestPagingEveryTenantVariant(t *testing.T) {
	modes := []string{certain.PagingOffset0, certain.PagingOffset1, certain.PagingPage1}
	for _, server := range modes {
		for _, lenient := range []bool{false, true} {
			if lenient && server == certain.PagingOffset0 {
				continue // 0 is a valid index there: lenient changes nothing
			}
			for _, pageCap := range []int{0, 2} {
				for _, client := range modes {
					name := fmt.Sprintf("server=%s,lenient=%v,cap=%d/client=%s", server, lenient, pageCap, client)
					t.Run(name, func(t *testing.T) {
						checkVariant(t, server, lenient, pageCap, client)
					})
				}
			}
		}
	}
}

func checkVariant(t *testing.T, server string, lenient bool, pageCap int, client string) {
	opts := []certaintest.Option{certaintest.WithPagingMode(server)}
	if lenient {
		opts = append(opts, certaintest.WithLenient())
	}
	if pageCap > 0 {
		opts = append(opts, certaintest.WithPageSizeCap(pageCap))
	}
	srv, _, clk := newPair(t, opts...)
	codes := seedRegs(srv, clk, 7)
	cfg := srv.Config()
	cfg.PagingMode, cfg.PageSize = client, 3
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var readErr error
	for p, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err != nil {
			readErr = err
			break
		}
		for _, r := range p.Items {
			got = append(got, r.Code)
		}
	}
	if client == server {
		if readErr != nil || !slices.Equal(got, codes) {
			t.Fatalf("matching modes: read %v, %v; want every row %v", got, readErr, codes)
		}
		return
	}
	if readErr == nil {
		t.Fatalf("wrong mode read %v without an error (all rows: %v)", got, codes)
	}
	if !errors.Is(readErr, certain.ErrContract) {
		t.Errorf("error %v is not a contract error", readErr)
	}
	if want := "set pagingMode: " + server; !strings.Contains(readErr.Error(), want) {
		t.Errorf("error %q does not say %q", readErr, want)
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c] || !slices.Contains(codes, c) {
			t.Errorf("row %s handed out twice or unknown before the error (got %v)", c, got)
		}
		seen[c] = true
	}
}

// TestLenientPageServerNamesTheCause is the case of the issue: a 1-based
// tenant that answers start_index=0 as its first page, read with offset0.
func TestLenientPageServerNamesTheCause(t *testing.T) {
	srv, _, clk := newPair(t, certaintest.WithPagingMode(certain.PagingPage1), certaintest.WithLenient())
	seedRegs(srv, clk, 7)
	cfg := srv.Config()
	cfg.PagingMode, cfg.PageSize = certain.PagingOffset0, 3
	c, err := certain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for _, err := range c.RegistrationPages(context.Background(), "ACME", "HS26", certain.RegistrationQuery{}) {
		if err == nil {
			pages++
			continue
		}
		msg := err.Error()
		for _, want := range []string{"Certain echoed startingIndex 1 for start_index 0", "page number", "set pagingMode: page1"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
		}
	}
	if pages != 0 {
		t.Errorf("%d pages handed out before the error; the first page already shows the mismatch", pages)
	}
}
