package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// PayloadHash returns a short, stable fingerprint of v: the SHA-256 of its
// canonical JSON (encoding/json sorts map keys; struct fields keep their
// declared order), as 32 hex digits. Equal values always give equal hashes,
// across processes and Go versions, which is what delta syncs compare.
// A value JSON cannot encode (a channel, NaN) is hashed through its Go
// syntax representation instead, prefixed so it never equals a JSON hash.
func PayloadHash(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	prefix := ""
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		fmt.Fprintf(&buf, "%#v", v)
		prefix = "g"
	}
	sum := sha256.Sum256(buf.Bytes())
	return prefix + hex.EncodeToString(sum[:16])
}
