package verify

import (
	"strconv"
	"unicode/utf8"
)

// decodeFlat decodes the JSON object s when it has the usual shape of an
// access token's claims: string keys and values without escapes, numbers,
// booleans, null and arrays of those. ok is false for any other input, valid
// or not, and the caller then decodes with encoding/json. Whenever ok is
// true the result equals what encoding/json gives when decoding into a
// map[string]any (FuzzDecodeFlat checks it), so the fast path changes
// speed, never meaning.
//
// It exists because claims decoding with encoding/json is a large share of
// the cost of verifying an RS256 token (figures in docs/performance.md);
// this path needs no reflection, and its strings share the memory of s.
func decodeFlat(s string) (m map[string]any, ok bool) {
	r := flatReader{s: s}
	r.space()
	if !r.eat('{') {
		return nil, false
	}
	m = make(map[string]any, 16)
	r.space()
	if r.eat('}') {
		return m, r.end()
	}
	for {
		r.space()
		k, ok := r.str()
		if !ok {
			return nil, false
		}
		r.space()
		if !r.eat(':') {
			return nil, false
		}
		r.space()
		v, ok := r.value(true)
		if !ok {
			return nil, false
		}
		m[k] = v // the last of duplicate names wins, as in encoding/json
		r.space()
		if r.eat('}') {
			return m, r.end()
		}
		if !r.eat(',') {
			return nil, false
		}
	}
}

type flatReader struct {
	s string
	i int
}

func (r *flatReader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *flatReader) eat(c byte) bool {
	if r.i < len(r.s) && r.s[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *flatReader) end() bool {
	r.space()
	return r.i == len(r.s)
}

// value reads a string, number, literal, or (if arrays) an array of those.
func (r *flatReader) value(arrays bool) (any, bool) {
	if r.i >= len(r.s) {
		return nil, false
	}
	switch c := r.s[r.i]; {
	case c == '"':
		return r.str()
	case c == '-' || '0' <= c && c <= '9':
		return r.number()
	case c == 't':
		return true, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n':
		return nil, r.literal("null")
	case c == '[' && arrays:
		return r.array()
	}
	return nil, false
}

func (r *flatReader) array() (any, bool) {
	r.i++ // [
	a := []any{}
	r.space()
	if r.eat(']') {
		return a, true
	}
	for {
		r.space()
		v, ok := r.value(false)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		r.space()
		if r.eat(']') {
			return a, true
		}
		if !r.eat(',') {
			return nil, false
		}
	}
}

func (r *flatReader) literal(lit string) bool {
	if len(r.s)-r.i >= len(lit) && r.s[r.i:r.i+len(lit)] == lit {
		r.i += len(lit)
		return true
	}
	return false
}

// str reads a string that needs no unescaping: no backslash, no control
// character, valid UTF-8 (encoding/json would replace invalid bytes).
func (r *flatReader) str() (string, bool) {
	if !r.eat('"') {
		return "", false
	}
	start, ascii := r.i, true
	for ; r.i < len(r.s); r.i++ {
		switch c := r.s[r.i]; {
		case c == '"':
			s := r.s[start:r.i]
			r.i++
			return s, ascii || utf8.ValidString(s)
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// number reads a JSON number (RFC 8259 §6) as a float64.
func (r *flatReader) number() (any, bool) {
	start := r.i
	r.eat('-')
	if !r.eat('0') && !r.digits() { // a leading 0 stands alone
		return nil, false
	}
	if r.eat('.') && !r.digits() {
		return nil, false
	}
	if r.eat('e') || r.eat('E') {
		if !r.eat('+') {
			r.eat('-')
		}
		if !r.digits() {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(r.s[start:r.i], 64)
	return f, err == nil
}

// digits reads one or more decimal digits.
func (r *flatReader) digits() bool {
	start := r.i
	for r.i < len(r.s) && '0' <= r.s[r.i] && r.s[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}
