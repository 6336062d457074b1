package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/agentgateway-go/agentgateway/internal/config"
)

// redacted replaces a secret in the effective config.
const redacted = "<redacted>"

// renderEffective writes cfg (defaulted) as YAML for `validate --print`.
// Unset optional fields (nil, empty strings and lists) are left out; numbers
// and booleans are always shown, since after defaulting a zero is the value
// in force. Secrets are redacted: inline passwords, and the password and
// secret-looking query values of URLs. Files named by the config
// (passwordFile, bearerTokenFile, tokenFile) are shown as paths and never
// read.
func renderEffective(cfg *config.Config) (string, error) {
	n := toNode(reflect.ValueOf(cfg).Elem(), "")
	if n == nil {
		n = &yaml.Node{Kind: yaml.MappingNode}
	}
	var b strings.Builder
	b.WriteString("# effective config: defaults applied, secrets redacted\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

var (
	durationType = reflect.TypeFor[config.Duration]()
	byteSizeType = reflect.TypeFor[config.ByteSize]()
)

func toNode(v reflect.Value, key string) *yaml.Node {
	switch v.Type() {
	case durationType:
		return scalar(v.Interface().(config.Duration).String(), "!!str")
	case byteSizeType:
		return scalar(v.Interface().(config.ByteSize).String(), "!!str")
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return toNode(v.Elem(), key)
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			c := toNode(v.Field(i), name)
			if c == nil {
				continue
			}
			m.Content = append(m.Content, scalar(name, "!!str"), c)
		}
		// The block of a policy type registered by its own package is no
		// field of config.Policy: Spec goes under the key it is read from.
		if p, ok := v.Interface().(config.Policy); ok && p.Spec != nil {
			if c := toNode(reflect.ValueOf(p.Spec), p.SpecBlock()); c != nil {
				m.Content = append(m.Content, scalar(p.SpecBlock(), "!!str"), c)
			}
		}
		return m
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		s := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			if c := toNode(v.Index(i), key); c != nil {
				s.Content = append(s.Content, c)
			}
		}
		return s
	case reflect.String:
		s := v.String()
		if s == "" {
			return nil
		}
		if config.SecretKey(key) {
			return scalar(redacted, "!!str")
		}
		return scalar(config.RedactURL(s), "!!str")
	case reflect.Bool:
		return scalar(strconv.FormatBool(v.Bool()), "!!bool")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar(strconv.FormatInt(v.Int(), 10), "!!int")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar(strconv.FormatUint(v.Uint(), 10), "!!int")
	case reflect.Float32, reflect.Float64:
		return scalar(strconv.FormatFloat(v.Float(), 'g', -1, 64), "!!float")
	case reflect.Map:
		if v.Len() == 0 {
			return nil
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		iter := v.MapRange()
		for iter.Next() {
			k := fmt.Sprint(iter.Key().Interface())
			if c := toNode(iter.Value(), k); c != nil {
				m.Content = append(m.Content, scalar(k, "!!str"), c)
			}
		}
		return m
	}
	return scalar(fmt.Sprint(v.Interface()), "!!str")
}

func scalar(v, tag string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}
