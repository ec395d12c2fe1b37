package config

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// WriteYAML writes c in the file format that Load reads, keys in
// declaration order and durations as Go durations ("15m", "168h"). It
// writes secrets as they are: print c.Redacted() for people. Load accepts
// the redacted output too, except for its REDACTED placeholders, which
// Validate refuses until they are replaced by real secrets (in the file or,
// for keys.encryption_key and store.redis.password, in the environment).
func (c Config) WriteYAML(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(toNode(reflect.ValueOf(c))); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

func toNode(v reflect.Value) *yaml.Node {
	t := v.Type()
	switch {
	case t == durationType:
		return scalar("!!str", formatDuration(time.Duration(v.Int())))
	case isStruct(t):
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := range t.NumField() {
			n.Content = append(n.Content, scalar("!!str", tagName(t.Field(i))), toNode(v.Field(i)))
		}
		return n
	case t.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if isStringList(t) {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			n.Content = append(n.Content, toNode(v.Index(i)))
		}
		return n
	}
	switch t.Kind() {
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10))
	default:
		return scalar("!!str", v.String())
	}
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// formatDuration drops the zero units time.Duration.String appends:
// 168h0m0s is written 168h, 15m0s 15m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
