package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The file format, the environment variables, the defaults given to viper
// and WriteYAML are all derived from the mapstructure tags of Config, so a
// field added to the structs is known everywhere at once.

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
)

// field is a key that holds a single value or a list of strings.
type field struct {
	key   string // dotted path, such as "tokens.access_ttl"
	index []int  // for reflect.Value.FieldByIndex on a Config
	typ   reflect.Type
}

// leaves returns the keys below t in declaration order. Lists of structs
// (clients) are not leaves: they can be set only in the file.
func leaves(t reflect.Type, prefix string, index []int) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		key := joinKey(prefix, tagName(f))
		idx := append(slices.Clone(index), i)
		switch {
		case isStruct(f.Type):
			out = append(out, leaves(f.Type, key, idx)...)
		case isStructList(f.Type):
		default:
			out = append(out, field{key: key, index: idx, typ: f.Type})
		}
	}
	return out
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	return name
}

// lookupField finds the field of struct type t whose tag is name.
func lookupField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func isStruct(t reflect.Type) bool { return t.Kind() == reflect.Struct && t != durationType }

func isStringList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String
}

func isStructList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && isStruct(t.Elem())
}

// parseScalar converts the text of a file value or an environment variable
// to a value of type t. Its errors quote the text: no secret has a type
// that can fail to parse.
func parseScalar(t reflect.Type, text string) (any, error) {
	if t == durationType {
		d, err := time.ParseDuration(text)
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q (want a Go duration such as 90s, 15m or 168h)", text)
		}
		return d, nil
	}
	var v any
	switch t.Kind() {
	case reflect.String:
		v = text
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("invalid boolean %q (want true or false)", text)
		}
		v = b
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, t.Bits())
		if err != nil {
			return nil, numberError(t, text, err)
		}
		v = n
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, t.Bits())
		if err != nil {
			return nil, numberError(t, text, err)
		}
		v = n
	default:
		return nil, fmt.Errorf("unsupported type %s", t)
	}
	return reflect.ValueOf(v).Convert(t).Interface(), nil
}

// numberError explains why text is not a number of type t.
func numberError(t reflect.Type, text string, err error) error {
	bits := t.Bits()
	unsigned := t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64
	negative := false
	if rest, ok := strings.CutPrefix(text, "-"); ok {
		_, perr := strconv.ParseUint(rest, 10, 64)
		negative = perr == nil || errors.Is(perr, strconv.ErrRange)
	}
	switch {
	case unsigned && (negative || errors.Is(err, strconv.ErrRange)):
		return fmt.Errorf("%q is out of range: want 0 to %d", text, uint64(1)<<bits-1)
	case errors.Is(err, strconv.ErrRange):
		return fmt.Errorf("%q is out of range: want %d to %d", text, -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
	default:
		return fmt.Errorf("invalid whole number %q", text)
	}
}

// splitList splits a comma-separated environment value. An empty value is
// an empty list, so that a variable can clear a list.
func splitList(text string) []string {
	if strings.TrimSpace(text) == "" {
		return []string{}
	}
	parts := strings.Split(text, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}
