package limit_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/certain-marketo/certain-marketo/lib/limit"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want limit.Mode
		ok   bool
	}{
		{"shared", limit.ModeShared, true},
		{"in-process", limit.ModeInProcess, true},
		{"local", limit.ModeInProcess, true}, // the old spelling, still deployed
		{"", "", false},
		{"Shared", "", false},
		{"both", "", false},
	} {
		got, err := limit.ParseMode(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseMode(%q) = %q, %v; want %q (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestFactory: one factory makes either budget; making one sends no
// request (NewShared only validates).
func TestFactory(t *testing.T) {
	cfg := limit.Config{CallsPer20s: 20, Concurrent: 2}
	if b, err := (limit.Factory{Mode: limit.ModeInProcess}).New("123-ABC-456", cfg); err != nil {
		t.Errorf("in-process: %v", err)
	} else if _, ok := b.(*limit.InProcess); !ok {
		t.Errorf("in-process: got %T", b)
	}
	shared := limit.Factory{Mode: limit.ModeShared, DB: &dynamodb.Client{}, Table: "state"}
	if b, err := shared.New("123-ABC-456", cfg); err != nil {
		t.Errorf("shared: %v", err)
	} else if _, ok := b.(*limit.Shared); !ok {
		t.Errorf("shared: got %T", b)
	}
	if b, err := (limit.Factory{Mode: limit.ModeShared}).New("123-ABC-456", cfg); err == nil || b != nil {
		t.Errorf("shared without a table = %v, %v; want an error and no budget", b, err)
	}
	if b, err := (limit.Factory{Mode: limit.ModeInProcess}).New("i", limit.Config{Concurrent: 11}); err == nil || b != nil {
		t.Errorf("in-process with 11 concurrent = %v, %v; want an error and no budget", b, err)
	}
	if _, err := (limit.Factory{}).New("i", cfg); err == nil {
		t.Error("a factory without a mode made a budget")
	}
}
