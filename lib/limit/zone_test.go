package limit

import (
	"testing"

	"github.com/certain-marketo/certain-marketo/lib/marketo"
)

// The budget's assumption about how long a call may stay in flight is the
// client's own bound (lib/marketo ends every call within MaxCallTime), and
// a lease outlives it.
func TestDefaultsMatchTheClient(t *testing.T) {
	cfg := Config{}.withDefaults()
	if cfg.MaxCall != marketo.MaxCallTime || cfg.LeaseTTL <= cfg.MaxCall {
		t.Errorf("MaxCall %s (client bound %s), LeaseTTL %s", cfg.MaxCall, marketo.MaxCallTime, cfg.LeaseTTL)
	}
	if cfg.QuotaZone != marketo.DefaultQuotaZone {
		t.Errorf("quota zone %q", cfg.QuotaZone)
	}
}
