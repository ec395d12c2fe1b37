package verify

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeFlat checks the fast claims decoder against encoding/json:
// whenever it accepts an input, encoding/json must decode that input to the
// very same map. It is the one test inside the package, since no public API
// can tell which decoder ran.
func FuzzDecodeFlat(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"iss":"x","aud":["a","b"],"exp":1.5e9,"n":null,"t":true,"f":false}`,
		`{"a":-0,"b":0.5,"c":1E+2,"d":1e-2,"e":[]}`, `{"a":"\u00e9"}`, `{"a":"é"}`, `{"a":"\xff"}`,
		`{"a":01}`, `{"a":1,}`, `{"a":[1,]}`, `{"a":{}}`, `{"a":[[1]]}`, `{"a":1}x`, `{"a":1e400}`,
		`{"a":1,"a":2}`, "{\"a\":\"\t\"}", `[]`, `null`, `{"a" 1}`, `{"a":tru}`, `{"a":-}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decodeFlat(s)
		if !ok {
			return
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("decodeFlat accepted %q, encoding/json says %v", s, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeFlat(%q) = %#v, encoding/json gives %#v", s, got, want)
		}
	})
}

func TestDecodeFlatShapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"flat-claims", `{"iss":"x","aud":["a","b"],"exp":1.5e9,"scope":"a b","n":null,"t":true}`, true},
		{"escape-falls-back", `{"a":"\u00e9"}`, false},
		{"object-value-falls-back", `{"a":{"b":1}}`, false},
		{"nested-array-falls-back", `{"a":[[1]]}`, false},
		{"invalid-utf8-falls-back", "{\"a\":\"\xff\"}", false},
		{"out-of-range-falls-back", `{"exp":1e400}`, false},
		{"not-an-object", `["a"]`, false},
		{"trailing-garbage", `{"a":1} x`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := decodeFlat(tt.in); ok != tt.ok {
				t.Errorf("decodeFlat(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
		})
	}
}
