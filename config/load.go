package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "AUTHSERVER_"

// Load returns the configuration made of the defaults, then the YAML file
// (if file is not empty), then the AUTHSERVER_ variables of environ (pass
// os.Environ()), then the secrets named by keys.encryption_key_file,
// keys.previous_encryption_keys_file and store.redis.password_file, and
// validates it.
//
// A file that cannot be read or parsed is an error naming the file. Unknown
// keys and values of the wrong type, in the file or the environment, are
// all reported together in an *Error, each naming its key and its source.
// A validation failure is returned as the *Error of Validate together with
// the configuration, so that a caller can still show it; any other error
// comes with the zero Config.
func Load(file string, environ []string) (Config, error) {
	var fromFile map[string]any
	var problems []Problem
	if file != "" {
		m, probs, err := readFile(file)
		if err != nil {
			return Config{}, err
		}
		fromFile, problems = m, probs
	}
	fromEnv, envProblems := envOverrides(environ)
	problems = append(problems, envProblems...)
	if len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}

	v := viper.New()
	def := reflect.ValueOf(Default())
	for _, f := range leaves(configType, "", nil) {
		v.SetDefault(f.key, def.FieldByIndex(f.index).Interface())
	}
	if err := v.MergeConfigMap(fromFile); err != nil {
		return Config{}, fmt.Errorf("merge config file %s: %w", file, err)
	}
	for key, val := range fromEnv {
		v.Set(key, val)
	}
	var cfg Config
	// Every value has its final type already: decoding must convert nothing.
	strict := func(dc *mapstructure.DecoderConfig) {
		dc.WeaklyTypedInput = false
		dc.ErrorUnused = true
	}
	if err := v.Unmarshal(&cfg, strict); err != nil {
		return Config{}, fmt.Errorf("decode config: %w", err)
	}
	if problems := append(readSecretFiles(&cfg), readPreviousKeysFile(&cfg)...); len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// readFile parses the YAML file into nested maps of typed values, ready for
// viper. Keys holding null are left out, so that they keep their default.
func readFile(file string) (map[string]any, []Problem, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]any{}, nil, nil
		}
		return nil, nil, fmt.Errorf("parse config file %s: %w", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more than one YAML document")
		}
		return nil, nil, fmt.Errorf("parse config file %s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return map[string]any{}, nil, nil
	}
	d := fileDecoder{file: file}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return map[string]any{}, nil, nil
	}
	m, _ := d.value(root, configType, "")
	if m == nil {
		return map[string]any{}, d.problems, nil
	}
	return m.(map[string]any), d.problems, nil
}

// fileDecoder turns YAML nodes into the values of the Config fields they
// name, collecting a Problem for every unknown key and bad value.
type fileDecoder struct {
	file     string
	problems []Problem
}

func (d *fileDecoder) problem(n *yaml.Node, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{
		Where:   fmt.Sprintf("%s:%d", d.file, n.Line),
		Key:     key,
		Message: fmt.Sprintf(format, args...),
	})
}

// value decodes n as a value of type t at key. It returns false for null
// and for a value with problems.
func (d *fileDecoder) value(n *yaml.Node, t reflect.Type, key string) (any, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, false
	}
	switch {
	case isStruct(t):
		return d.mapping(n, t, key)
	case isStructList(t):
		return d.structList(n, t, key)
	case isStringList(t):
		return d.stringList(n, key)
	}
	if n.Kind != yaml.ScalarNode {
		d.problem(n, key, "want a single value, not a %s", kindName(n))
		return nil, false
	}
	v, err := parseScalar(t, n.Value)
	if err != nil {
		d.problem(n, key, "%v", err)
		return nil, false
	}
	return v, true
}

func (d *fileDecoder) mapping(n *yaml.Node, t reflect.Type, key string) (any, bool) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, key, "want a mapping of keys, not a %s", kindName(n))
		return nil, false
	}
	out := make(map[string]any, len(n.Content)/2)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name := k.Value
		sub := joinKey(key, name)
		f, ok := lookupField(t, name)
		switch {
		case k.Kind != yaml.ScalarNode:
			d.problem(k, key, "keys must be plain names")
			continue
		case !ok:
			d.problem(k, sub, "unknown key")
			continue
		case seen[name]:
			d.problem(k, sub, "key given twice")
			continue
		}
		seen[name] = true
		if v, ok := d.value(val, f.Type, sub); ok {
			out[name] = v
		}
	}
	return out, true
}

func (d *fileDecoder) structList(n *yaml.Node, t reflect.Type, key string) (any, bool) {
	if n.Kind != yaml.SequenceNode {
		d.problem(n, key, "want a list, not a %s", kindName(n))
		return nil, false
	}
	if len(n.Content) == 0 {
		return nil, false
	}
	out := make([]any, 0, len(n.Content))
	for i, item := range n.Content {
		v, ok := d.value(item, t.Elem(), itemKey(key, i, idOf(item)))
		if !ok {
			v = map[string]any{}
		}
		out = append(out, v)
	}
	return out, true
}

func (d *fileDecoder) stringList(n *yaml.Node, key string) (any, bool) {
	if n.Kind != yaml.SequenceNode {
		d.problem(n, key, "want a list such as [a, b], not a %s", kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		item = resolve(item)
		switch {
		case isNull(item):
			out = append(out, "")
		case item.Kind != yaml.ScalarNode:
			d.problem(item, fmt.Sprintf("%s[%d]", key, i), "want a single value, not a %s", kindName(item))
			ok = false
		default:
			out = append(out, item.Value)
		}
	}
	return out, ok
}

// idOf returns the id of a client mapping, to name it in messages.
func idOf(n *yaml.Node) string {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "id" && resolve(n.Content[i+1]).Kind == yaml.ScalarNode {
			return resolve(n.Content[i+1]).Value
		}
	}
	return ""
}

// itemKey names an element of a list of structs: "clients[1] (billing-worker)".
func itemKey(key string, i int, id string) string {
	if id == "" {
		return fmt.Sprintf("%s[%d]", key, i)
	}
	return fmt.Sprintf("%s[%d] (%s)", key, i, id)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "single value"
	}
}

// envOverrides returns the values of the AUTHSERVER_ variables of environ
// by key. A name is matched whole against the known keys, never split at
// "_", since key names contain "_" themselves. A variable under a known
// section that matches no key (a typo) is a Problem; other AUTHSERVER_
// variables are left alone, because Kubernetes defines AUTHSERVER_PORT,
// AUTHSERVER_SERVICE_HOST and the like for a Service named authserver.
func envOverrides(environ []string) (map[string]any, []Problem) {
	byName := make(map[string]field)
	sections := make(map[string]bool)
	for i := range configType.NumField() {
		sections[strings.ToUpper(tagName(configType.Field(i)))] = true
	}
	for _, f := range leaves(configType, "", nil) {
		byName[envName(f.key)] = f
	}
	values := make(map[string]any)
	var problems []Problem
	for _, kv := range environ {
		name, text, ok := strings.Cut(kv, "=")
		rest, prefixed := strings.CutPrefix(name, EnvPrefix)
		if !ok || !prefixed {
			continue
		}
		f, known := byName[name]
		if !known {
			section, _, _ := strings.Cut(rest, "_")
			switch {
			case section == "CLIENTS":
				problems = append(problems, Problem{Where: name, Key: "clients", Message: "clients can be configured only in the file"})
			case sections[section]:
				problems = append(problems, Problem{Where: name, Message: "no configuration key has this name"})
			}
			continue
		}
		if isStringList(f.typ) {
			values[f.key] = splitList(text)
			continue
		}
		v, err := parseScalar(f.typ, text)
		if err != nil {
			problems = append(problems, Problem{Where: name, Key: f.key, Message: err.Error()})
			continue
		}
		values[f.key] = v
	}
	return values, problems
}

// envName returns the environment variable that sets key:
// "tokens.access_ttl" is AUTHSERVER_TOKENS_ACCESS_TTL.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}
