package djangodump_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver/djangodump"
)

func TestReaderReadsOnAfterAMalformedObject(t *testing.T) {
	in := `[
	{"model": "auth.user", "pk": 1, "fields": {"username": "a", "password": "x", "is_active": true}},
	{"model": 5, "pk": 2, "fields": {}},
	{"model": "auth.user", "pk": "5b6f…uuid", "fields": {"username": "c", "is_active": "yes"}},
	{"model": "auth.user", "fields": {"username": "d"}}
]`
	r := djangodump.NewReader(strings.NewReader(in))
	obj, i, err := r.Next()
	if err != nil || i != 0 || obj.Model != "auth.user" {
		t.Fatalf("object 0: %v %d %v", obj, i, err)
	}
	if pk, err := obj.Key(); pk != "1" || err != nil {
		t.Errorf("Key = %q, %v", pk, err)
	}
	if active, err := obj.Bool("is_active", false); !active || err != nil {
		t.Errorf("Bool(is_active) = %v, %v", active, err)
	}
	if _, i, err := r.Next(); !errors.Is(err, djangodump.ErrRow) || i != 1 {
		t.Fatalf("object 1: %d %v, want ErrRow", i, err)
	}
	obj, _, err = r.Next()
	if err != nil {
		t.Fatalf("object 2: %v", err)
	}
	if pk, _ := obj.Key(); pk != "5b6f…uuid" {
		t.Errorf("string pk = %q", pk)
	}
	if _, err := obj.Bool("is_active", true); err == nil {
		t.Error(`Bool("yes") succeeded`)
	}
	obj, _, err = r.Next()
	if pk, _ := obj.Key(); err != nil || pk != "" {
		t.Errorf("object 3 (no pk): %q %v", pk, err)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last object: %v, want io.EOF", err)
	}
}

func TestReaderRefusesWhatIsNotADump(t *testing.T) {
	for name, in := range map[string]string{
		"object":    `{"model": "auth.user"}`,
		"empty":     ``,
		"truncated": `[{"model": "auth.user", "pk": 1, "fields": {}}, {"model": "auth.us`,
		"unclosed":  `[{"model": "auth.user", "pk": 1, "fields": {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := djangodump.NewReader(strings.NewReader(in))
			var err error
			for range 3 {
				if _, _, err = r.Next(); err != nil {
					break
				}
			}
			if err == nil || err == io.EOF || errors.Is(err, djangodump.ErrRow) {
				t.Fatalf("Next = %v, want an error that ends the dump", err)
			}
		})
	}
}
