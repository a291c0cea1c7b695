package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the shape of an operator-written configuration file: the
// connections and jobs to load, in JSON or YAML.
type File struct {
	Connections []Connection `json:"connections"`
	Jobs        []Job        `json:"jobs"`
}

// LoadFile reads a JSON (.json) or YAML (.yaml, .yml) configuration file,
// rejects unknown fields and validates every object in it.
func LoadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("config: %w", err)
	}
	var f File
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		err = DecodeYAML(data, &f)
	default:
		err = DecodeJSON(data, &f)
	}
	if err != nil {
		return File{}, fmt.Errorf("config %s: %w", path, err)
	}
	if err := f.Validate(); err != nil {
		return File{}, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Validate checks every connection and job, that ids are unique and that
// each job's account has a connection in the file.
func (f File) Validate() error {
	var errs []error
	accounts := map[string]Connection{}
	for _, c := range f.Connections {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := accounts[c.Account]; dup {
			errs = append(errs, &ValidationError{Object: "connection", ID: c.Account, Field: "account", Msg: "duplicate account"})
		}
		accounts[c.Account] = c
	}
	ids := map[string]bool{}
	for _, j := range f.Jobs {
		if ids[j.ID] && j.ID != "" {
			errs = append(errs, &ValidationError{Object: "job", ID: j.ID, Field: "id", Msg: "duplicate job id"})
		}
		ids[j.ID] = true
		c, ok := accounts[j.Account]
		if !ok {
			if err := j.Validate(); err != nil {
				errs = append(errs, err)
			} else {
				errs = append(errs, &ValidationError{Object: "job", ID: j.ID, Field: "account", Msg: fmt.Sprintf("no connection for account %q", j.Account)})
			}
			continue
		}
		if err := j.ValidateFor(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DecodeJSON decodes one JSON value into v, rejecting unknown fields and
// trailing data.
func DecodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("decode JSON: unexpected data after the top-level value")
	}
	return nil
}

// DecodeYAML decodes one YAML document into v with the same strictness as
// DecodeJSON. The YAML is read into a generic tree by yaml.v3 (which rejects
// duplicate keys) and then decoded through DecodeJSON, so the json tags of
// the config types are the only field names: one vocabulary for both
// formats, and unknown fields are rejected exactly as in JSON. (yaml.v3's
// KnownFields would need yaml tags on types this package does not own, such
// as certain.FieldNames.)
func DecodeYAML(data []byte, v any) error {
	b, err := YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("decode YAML: %w", err)
	}
	return DecodeJSON(b, v)
}

// YAMLToJSON converts one YAML document into the JSON it stands for
// (string keys only; timestamps as RFC 3339), so that YAML files go through
// the same strict JSON decoding and checks as JSON ones.
func YAMLToJSON(data []byte) ([]byte, error) {
	var tree any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&tree); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, fmt.Errorf("malformed YAML: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one document (use a list for several objects)")
	}
	norm, err := jsonable(tree, "")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(norm)
	if err != nil {
		return nil, fmt.Errorf("YAML to JSON: %w", err)
	}
	return b, nil
}

// jsonable converts a yaml.v3 generic tree into values encoding/json can
// marshal (string keys only; timestamps as RFC 3339).
func jsonable(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := jsonable(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v is not a string", strings.TrimPrefix(path, "."), k)
			}
			c, err := jsonable(e, path+"."+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := jsonable(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	default:
		return x, nil
	}
}

// ParseConnection decodes and validates one connection (JSON).
func ParseConnection(data []byte) (Connection, error) {
	var c Connection
	if err := DecodeJSON(data, &c); err != nil {
		return Connection{}, fmt.Errorf("connection: %w", err)
	}
	return c, c.Validate()
}

// ParseJob decodes and validates one job (JSON).
func ParseJob(data []byte) (Job, error) {
	var j Job
	if err := DecodeJSON(data, &j); err != nil {
		return Job{}, fmt.Errorf("job: %w", err)
	}
	return j, j.Validate()
}

// MarshalJSON writes the duration as "15m", "1h30m", "45s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// String formats the duration without trailing zero units ("15m", not "15m0s").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalJSON accepts a Go duration string ("15m", "1h30m").
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"15m\", got %s", b)
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}
