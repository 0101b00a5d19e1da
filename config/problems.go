package config

import (
	"fmt"
	"reflect"
	"strings"
)

// envName is the environment variable that overrides key.
func envName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// envKeys maps each key set in environ to its variable, so a problem with
// that key names the variable the admin has to fix.
func envKeys(environ []string) map[string]string {
	set := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		set[name] = true
	}
	out := map[string]string{}
	for _, k := range Keys {
		if n := envName(k.Name); set[n] {
			out[k.Name] = n
		}
	}
	return out
}

func validKeys(valid map[string]bool) map[string]Key {
	out := make(map[string]Key, len(valid))
	for n := range valid {
		out[n] = Key{Name: n}
	}
	return out
}

// followOn reports whether p only repeats a key that failed to decode: a
// bad ca.validity must not also yield "ca.validity must be at least 1h"
// and "ca.renew_before must be shorter than ca.validity (0s)".
func followOn(p Problem, failed map[string]bool) bool {
	for key := range failed {
		if p.Key == key || strings.HasPrefix(p.Key, key+".") || strings.Contains(p.Message, key) {
			return true
		}
	}
	return false
}

// dropFollowOns removes the unknown-key problems inside a key that failed
// to decode (trusted_networks given as a mapping reports its entries).
func dropFollowOns(ps Problems, failed map[string]bool) Problems {
	out := ps[:0]
	for _, p := range ps {
		if failed[p.Key] || !followOn(p, failed) {
			out = append(out, p)
		}
	}
	return out
}

// plainDecodeError turns a decoder failure into "expected a duration (e.g.
// 720h), got a list" instead of Go type names; our own hooks' messages are
// already plain and are kept.
func plainDecodeError(err error, k Key, raw any) string {
	msg := cleanDecodeError(err)
	if !strings.Contains(msg, "unconvertible type") && !strings.Contains(msg, "source data must be") &&
		!strings.Contains(msg, "expected ") && !strings.Contains(msg, "cannot parse") {
		return msg
	}
	return fmt.Sprintf("expected %s, got %s", typeWords(k.Type), describeValue(raw))
}

// typeWords reads a key table type ("bool", "a|b", "list of CIDRs") as words.
func typeWords(t string) string {
	switch {
	case t == "bool":
		return "true or false"
	case strings.Contains(t, "|") && !strings.Contains(t, " "):
		return "one of " + strings.ReplaceAll(t, "|", ", ")
	case strings.HasPrefix(t, "list"):
		return "a " + t
	}
	return "a " + t
}

// describeValue names what the YAML or environment gave, in plain words.
func describeValue(v any) string {
	if v == nil {
		return "nothing"
	}
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the text %q", x)
	case bool:
		return fmt.Sprintf("%t", x)
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a mapping (key: value lines)"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Float64, reflect.Float32:
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("%v", v)
}
