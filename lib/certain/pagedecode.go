package certain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// A page's rows are decoded one at a time and handed to the reader's row
// function (check, then keep) before the next is decoded: decoded whole, a
// page of registrations takes about five times the bytes of its JSON (a map
// per object, a string per key and value), and a read that keeps only the
// fields its job uses (RegistrationQuery.Keep) holds that much for one row
// instead of a page.

// decodePage decodes a page's envelope. The array under key is decoded row
// by row, each passed through row, and stored as a []map[string]any of what
// row returned; every other member is decoded as decodeObject would.
func decodePage(resource, key string, body []byte, row func(any) (map[string]any, error)) (map[string]any, error) {
	notObject := func(err error) error { return notJSONObject(http.MethodGet, resource, body, err) }
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, notObject(err)
	}
	env := map[string]any{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, notObject(err)
		}
		k, _ := t.(string)
		if k != key {
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, notObject(err)
			}
			env[k] = v
			continue
		}
		rows, err := decodeRows(dec, row)
		if err != nil {
			if errors.Is(err, errNotList) {
				return nil, fmt.Errorf("certain: GET %s: %q is not a list", resource, key)
			}
			if _, syntax := err.(*json.SyntaxError); syntax || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, notObject(err)
			}
			return nil, err
		}
		env[k] = rows
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, notObject(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, notObject(errors.New("data after the object"))
	}
	return env, nil
}

// errNotList is a row array that is neither an array nor null.
var errNotList = errors.New("not a list")

// decodeRows decodes the array the decoder is at, one row at a time; a
// JSON null is no rows.
func decodeRows(dec *json.Decoder, row func(any) (map[string]any, error)) ([]map[string]any, error) {
	t, err := dec.Token()
	switch {
	case err != nil:
		return nil, err
	case t == nil:
		return nil, nil
	case t != json.Delim('['):
		return nil, errNotList
	}
	var rows []map[string]any
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		m, err := row(v)
		if err != nil {
			return nil, err
		}
		rows = append(rows, m)
	}
	return rows, expectDelim(dec, ']')
}

// expectDelim reads the next token, which must be d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if t != d {
		return fmt.Errorf("found %v where %q was expected", t, string(d))
	}
	return nil
}
