// Package djangodump reads the JSON that Django's `manage.py dumpdata`
// writes (an array of {"model", "pk", "fields"} objects) one object at a
// time, so that a dump of a million rows is read in constant memory.
package djangodump

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Object is one serialized model instance.
type Object struct {
	Model  string                     `json:"model"`  // "app_label.model_name", e.g. "auth.user"
	PK     json.RawMessage            `json:"pk"`     // absent with dumpdata --natural-primary
	Fields map[string]json.RawMessage `json:"fields"` // field name to its JSON value
}

// Reader reads the objects of a dump in order.
type Reader struct {
	dec   *json.Decoder
	begun bool
	index int
}

// NewReader returns a Reader of the dump that r holds.
func NewReader(r io.Reader) *Reader {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &Reader{dec: dec}
}

// ErrRow wraps the error of one object that is valid JSON but not of the
// dump's shape: the caller may refuse that object and read on.
var ErrRow = errors.New("malformed object")

// Next returns the next object and its index (0 for the first), io.EOF
// after the last, or an error. After an error that wraps ErrRow, the next
// call reads on; after any other error (invalid JSON, not an array), the
// dump cannot be read further.
func (r *Reader) Next() (Object, int, error) {
	if !r.begun {
		tok, err := r.dec.Token()
		if err != nil {
			return Object{}, 0, fmt.Errorf("read dump: %w", noEOF(err))
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return Object{}, 0, errors.New("read dump: not a JSON array (the output of manage.py dumpdata)")
		}
		r.begun = true
	}
	if !r.dec.More() {
		if _, err := r.dec.Token(); err != nil {
			return Object{}, 0, fmt.Errorf("read dump: %w", noEOF(err))
		}
		return Object{}, 0, io.EOF
	}
	i := r.index
	r.index++
	// Decode reads the whole object before it fills obj, so that an object
	// of the wrong shape (a type error) leaves the stream readable.
	var obj Object
	if err := r.dec.Decode(&obj); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return Object{}, i, fmt.Errorf("object %d: %w: %w", i, ErrRow, err)
		}
		return Object{}, i, fmt.Errorf("read dump: object %d: %w", i, noEOF(err))
	}
	if obj.Model == "" || obj.Fields == nil {
		return Object{}, i, fmt.Errorf("object %d: %w: no model or fields", i, ErrRow)
	}
	return obj, i, nil
}

// noEOF turns an end of input inside the array into an error that says so.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// String returns the string value of field name, "" if it is absent or
// null, and an error if it is of another type.
func (o Object) String(name string) (string, error) {
	raw, ok := o.Fields[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("field %s: not a string", name)
	}
	return s, nil
}

// Bool returns the boolean value of field name, def if it is absent or
// null, and an error if it is of another type.
func (o Object) Bool(name string, def bool) (bool, error) {
	raw, ok := o.Fields[name]
	if !ok || string(raw) == "null" {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("field %s: not a boolean", name)
	}
	return b, nil
}

// Has reports whether the object has field name.
func (o Object) Has(name string) bool {
	_, ok := o.Fields[name]
	return ok
}

// Key returns the primary key as text: the digits of an integer key, the
// value of a string key (a UUID, say); "" if there is none.
func (o Object) Key() (string, error) {
	if len(o.PK) == 0 || string(o.PK) == "null" {
		return "", nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(o.PK))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("pk: %w", err)
	}
	switch v := v.(type) {
	case json.Number:
		if _, err := v.Int64(); err != nil {
			return "", fmt.Errorf("pk %s is not an integer", v)
		}
		return v.String(), nil
	case string:
		return v, nil
	}
	return "", errors.New("pk is neither a number nor a string")
}
