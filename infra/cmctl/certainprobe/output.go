package certainprobe

import (
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// WriteText prints one line per check, the mismatches, and the inferred
// settings as the YAML of a connection file.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-4s  %-36s %s\n", c.Status, c.Name, c.Detail)
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(&b, "FAIL  %-36s %s\n", "configured setting differs", m)
	}
	if r.Inferred.PageCap > 0 {
		fmt.Fprintf(&b, "\n# page cap: %d rows per page\n", r.Inferred.PageCap)
	}
	y, err := r.Inferred.YAML()
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n# inferred connection settings for account %s (paste into its connection file):\n%s", r.Account, y)
	_, err = io.WriteString(w, b.String())
	return err
}

// YAML is the inferred settings as in a connection file.
func (in Inferred) YAML() (string, error) {
	b, err := yaml.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("inferred settings: %w", err)
	}
	return string(b), nil
}
