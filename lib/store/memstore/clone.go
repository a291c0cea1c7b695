package memstore

import "encoding/json"

// cloneJSON deep-copies a config value through its JSON form, so callers
// never share slices or maps with the store (the same round trip the
// DynamoDB store makes).
func cloneJSON[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		return v // config types always marshal; keep the value rather than lose it
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}
