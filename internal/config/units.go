package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Byte size units accepted by ByteSize.
const (
	B   ByteSize = 1
	KB  ByteSize = 1000
	MB  ByteSize = 1000 * KB
	GB  ByteSize = 1000 * MB
	TB  ByteSize = 1000 * GB
	KiB ByteSize = 1024
	MiB ByteSize = 1024 * KiB
	GiB ByteSize = 1024 * MiB
	TiB ByteSize = 1024 * GiB
)

// byteUnits is ordered largest first so String picks the largest exact unit,
// binary units before decimal ones.
var byteUnits = []struct {
	name string
	size ByteSize
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
	{"B", B},
}

const byteUnitList = "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"

// ParseByteSize parses a non-negative integer with an optional unit suffix:
// "4194304", "4MiB", "64 KiB", "10MB". Units are case-sensitive; KB/MB/GB/TB
// are powers of 1000 and KiB/MiB/GiB/TiB powers of 1024.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		if strings.HasPrefix(t, "-") {
			return 0, errors.New("must not be negative")
		}
		return 0, fmt.Errorf("invalid size %q: want an integer with an optional unit (%s), e.g. \"4MiB\"", s, byteUnitList)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: number out of range", s)
	}
	unit := strings.TrimLeft(t[i:], " ")
	mult := B
	if unit != "" {
		found := false
		for _, u := range byteUnits {
			if u.name == unit {
				mult, found = u.size, true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("invalid size %q: unknown unit %q (valid: %s)", s, unit, byteUnitList)
		}
	}
	if n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	return ByteSize(n) * mult, nil
}

// String formats the size with the largest unit that divides it exactly.
func (b ByteSize) String() string {
	if b > 0 {
		for _, u := range byteUnits {
			if b%u.size == 0 && u.size > 1 {
				return strconv.FormatInt(int64(b/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Int64 returns the size in bytes.
func (b ByteSize) Int64() int64 { return int64(b) }

// MarshalYAML writes the size as String does.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalYAML lets ByteSize be decoded by plain yaml.v3 as well.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := decodeByteSize(n)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

func decodeByteSize(n *yaml.Node) (ByteSize, error) {
	return decodeUnit(n, `a size such as "4MiB"`, ParseByteSize, func(tag, s string) (ByteSize, bool, error) {
		if tag != "!!int" {
			return 0, false, nil
		}
		v, err := parseYAMLInt(s)
		if err != nil {
			return 0, true, fmt.Errorf("invalid size %q: %v", s, err)
		}
		if v < 0 {
			return 0, true, errors.New("must not be negative")
		}
		return ByteSize(v), true, nil
	})
}

// ParseDuration parses a Go duration string ("300s", "1m30s", "250ms") and
// rejects negative values.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a Go duration such as \"30s\", \"1m30s\" or \"250ms\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return Duration(d), nil
}

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML lets Duration be decoded by plain yaml.v3 as well.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := decodeDuration(n)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func decodeDuration(n *yaml.Node) (Duration, error) {
	return decodeUnit(n, `a duration such as "30s"`, ParseDuration, func(tag, s string) (Duration, bool, error) {
		if tag == "!!float" {
			return 0, true, fmt.Errorf("invalid duration %s: missing unit, write e.g. \"1.5s\"", s)
		}
		v, err := parseYAMLInt(s)
		if err == nil && v == 0 {
			return 0, true, nil
		}
		if err == nil && v < 0 {
			return 0, true, fmt.Errorf("invalid duration %s: must not be negative", s)
		}
		return 0, true, fmt.Errorf("invalid duration %s: missing unit, write e.g. \"%ss\"", s, s)
	})
}

// decodeUnit decodes a scalar holding a value with a unit (a size, a
// duration): null is the zero value, a string is parsed by parse, and a
// bare number (tag "!!int" or "!!float") goes to number, which says
// whether it takes that tag at all (each type treats a bare number its
// own way). Anything else is an error naming want, the expected form.
func decodeUnit[T any](n *yaml.Node, want string, parse func(string) (T, error), number func(tag, s string) (v T, ok bool, err error)) (T, error) {
	var zero T
	if n.Kind == yaml.ScalarNode {
		switch tag := n.ShortTag(); tag {
		case "!!null":
			return zero, nil
		case "!!str":
			return parse(n.Value)
		case "!!int", "!!float":
			if v, ok, err := number(tag, n.Value); ok {
				return v, err
			}
		}
	}
	return zero, fmt.Errorf("expected %s, got %s", want, describe(n))
}

// parseYAMLInt parses a YAML 1.2 integer: decimal with optional sign and
// underscores, 0x hex, 0o / 0 octal, 0b binary.
func parseYAMLInt(s string) (int64, error) {
	t := strings.ReplaceAll(s, "_", "")
	if strings.HasPrefix(t, "0o") || strings.HasPrefix(t, "-0o") || strings.HasPrefix(t, "+0o") {
		t = strings.Replace(t, "0o", "0", 1)
	}
	v, err := strconv.ParseInt(t, 0, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errors.New("out of range")
		}
		return 0, errors.New("not an integer")
	}
	return v, nil
}
