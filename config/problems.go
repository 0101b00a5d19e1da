package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
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
		if p.Key == key || strings.HasPrefix(p.Key, key+".") || strings.HasPrefix(p.Key, key+"[") || strings.Contains(p.Message, key) {
			return true
		}
	}
	return false
}

// dropFollowOns removes the unknown-key problems inside a key that failed
// to decode (trusted_networks given as a mapping reports its entries), and
// the decode problem of a list whose entries already have their own
// (policy.rules[0]: must be a mapping) since those say more.
func dropFollowOns(ps Problems, failed map[string]bool) Problems {
	specific := map[string]bool{}
	for _, p := range ps {
		if k, _, ok := strings.Cut(p.Key, "["); ok && failed[k] {
			specific[k] = true
		}
	}
	out := ps[:0]
	for _, p := range ps {
		switch {
		case failed[p.Key]:
			if specific[p.Key] {
				continue
			}
		case strings.Contains(p.Key, "[") && specific[strings.SplitN(p.Key, "[", 2)[0]]:
		case followOn(p, failed):
			continue
		}
		out = append(out, p)
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
	if fields := entryFieldProblems(msg, raw); fields != "" {
		return fields
	}
	if list, ok := raw.([]any); ok && isTextList(k) {
		for i, e := range list {
			if _, isText := e.(string); !isText {
				return fmt.Sprintf("expected %s, but entry %d is %s", typeWords(k.Type), i+1, describeValue(e))
			}
		}
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

func isTextList(k Key) bool {
	_, ok := k.Default.([]string)
	return ok
}

var (
	entryPath    = regexp.MustCompile(`'\[(\d+)\]\.([A-Za-z_]+)' `)
	expectedType = regexp.MustCompile(`expected '([^']+)'`)
)

// entryFieldProblems rewrites mapstructure's "'[0].encrypt' expected
// 'string', got unconvertible type '[]interface {}'" for a list of
// mappings (policy.rules) as "entry 1, encrypt: expected text, got a list".
func entryFieldProblems(msg string, raw any) string {
	list, _ := raw.([]any)
	locs := entryPath.FindAllStringSubmatchIndex(msg, -1)
	var out []string
	for i, loc := range locs {
		end := len(msg)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		n, _ := strconv.Atoi(msg[loc[2]:loc[3]])
		field := msg[loc[4]:loc[5]]
		rest := msg[loc[1]:end]
		want := "another kind of value"
		switch m := expectedType.FindStringSubmatch(rest); {
		case strings.Contains(rest, "array or slice"):
			want = "a list"
		case m != nil && m[1] == "string":
			want = "text"
		case m != nil && m[1] == "bool":
			want = "true or false"
		case m != nil:
			want = "a number"
		}
		var got any
		if n < len(list) {
			if entry, ok := list[n].(map[string]any); ok {
				got = entry[field]
			}
		}
		out = append(out, fmt.Sprintf("entry %d, %s: expected %s, got %s", n+1, field, want, describeValue(got)))
	}
	return strings.Join(out, "; ")
}
