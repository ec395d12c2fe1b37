package config

import (
	"reflect"
	"slices"
)

// ChangedKeys returns the keys whose values differ between a and b, as
// dotted paths in declaration order, with "clients" last if any client
// differs. It never returns values, so its result may be logged.
func ChangedKeys(a, b Config) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for _, f := range leaves(configType, "", nil) {
		if !reflect.DeepEqual(va.FieldByIndex(f.index).Interface(), vb.FieldByIndex(f.index).Interface()) {
			out = append(out, f.key)
		}
	}
	if !slices.EqualFunc(a.Clients, b.Clients, func(x, y Client) bool { return reflect.DeepEqual(x, y) }) {
		out = append(out, "clients")
	}
	return out
}
