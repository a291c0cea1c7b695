package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a short sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("a cancelled context: err %v after %s, want Canceled at once", err, time.Since(start))
	}
	if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("zero wait on a cancelled context: %v", err)
	}
}

func TestManual(t *testing.T) {
	start := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	c := NewManual(start)
	if err := c.Sleep(context.Background(), 20*time.Second); err != nil || !c.Now().Equal(start.Add(20*time.Second)) {
		t.Fatalf("after Sleep(20s): %v, %v", c.Now(), err)
	}
	c.Advance(time.Minute)
	if !c.Now().Equal(start.Add(80 * time.Second)) {
		t.Fatalf("after Advance: %v", c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || !c.Now().Equal(start.Add(80*time.Second)) {
		t.Fatalf("Sleep on a cancelled context moved the clock or did not fail: %v, %v", c.Now(), err)
	}
}
