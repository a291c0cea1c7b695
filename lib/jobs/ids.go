package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewRunID returns a run id that sorts by start time: 20260401T080311Z-1a2b3c4d.
func NewRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
