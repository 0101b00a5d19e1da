package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/mailseal/mailseal/policy"
)

// EnvPrefix prefixes every environment override.
const EnvPrefix = "MAILSEAL"

// envConfigFile names the config file when no --config flag is given; it is
// not a key and so is exempt from the unknown-variable check.
const envConfigFile = EnvPrefix + "_CONFIG"

// EnvP12Password is the password of `certs export --p12` when no
// --password-file is given: a command's input, not a config key.
const EnvP12Password = EnvPrefix + "_P12_PASSWORD"

// Problem is one thing wrong with the configuration, tied to its key.
type Problem struct {
	Key     string
	Message string
	Env     string // the MAILSEAL_* variable the bad value came from, if any
}

func (p Problem) String() string {
	if p.Key == "" {
		return "config: " + p.Message
	}
	if p.Env != "" {
		return fmt.Sprintf("config: %s (from %s): %s", p.Key, p.Env, p.Message)
	}
	return fmt.Sprintf("config: %s: %s", p.Key, p.Message)
}

// Problems collects every problem found; its Error prints one per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// IsInvalid reports whether err comes from a bad configuration (exit code 2)
// rather than from an I/O failure.
func IsInvalid(err error) bool {
	var ps Problems
	return errors.As(err, &ps)
}

// ConfigFileFromEnv returns MAILSEAL_CONFIG, the file to load when no flag names one.
func ConfigFileFromEnv() string { return os.Getenv(envConfigFile) }

// Load reads the YAML file (none: embedded defaults only), applies MAILSEAL_*
// environment overrides and validates the result. Every problem is reported.
func Load(file string) (*Config, error) {
	return load(file, os.Environ())
}

func load(file string, environ []string) (*Config, error) {
	v := viper.New()
	for _, k := range Keys {
		v.SetDefault(k.Name, k.Default)
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	// MAILSEAL_ADMIN_LISTEN= means "empty", as in the file, not "unset".
	v.AllowEmptyEnv(true)

	var problems Problems
	if file != "" {
		if raw, err := os.ReadFile(file); err == nil && isBlank(raw) {
			// An empty file would silently mean "embedded defaults": no
			// internal domains, no rules, so signing and require_tls stop.
			return nil, Problems{{Message: fmt.Sprintf("%s is empty (only white space or comments); write the keys you mean, or run without --config for the embedded defaults", file)}}
		}
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, Problems{{Message: fmt.Sprintf("cannot read %s: %v", file, oneLine(err))}}
		}
		problems = append(problems, unknownKeys(v)...)
		problems = append(problems, unknownRuleKeys(v.Get("policy.rules"))...)
	}
	problems = append(problems, unknownEnv(environ)...)

	fromEnv := envKeys(environ)
	cfg := &Config{Source: file, LoadedAt: time.Now()}
	failed := map[string]bool{}
	for _, k := range Keys {
		if err := decodeKey(v, k, cfg); err != nil {
			problems = append(problems, Problem{Key: k.Name, Message: err.Error(), Env: fromEnv[k.Name]})
			failed[k.Name] = true
		}
	}
	problems = dropFollowOns(problems, failed)
	for _, p := range cfg.Validate() {
		if !followOn(p, failed) {
			p.Env = fromEnv[p.Key]
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return cfg, nil
}

// isBlank reports whether a YAML file holds nothing but white space and comments.
func isBlank(raw []byte) bool {
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
			return false
		}
	}
	return true
}

// decodeKey decodes one key into its struct field, so a type error names
// exactly that key instead of mapstructure's summary of the whole struct.
func decodeKey(v *viper.Viper, k Key, cfg *Config) error {
	name := k.Name
	field, err := fieldByKey(reflect.ValueOf(cfg).Elem(), strings.Split(name, "."))
	if err != nil {
		return err
	}
	target := reflect.New(field.Type())
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           target.Interface(),
		WeaklyTypedInput: false,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			byteSizeHook,
			durationHook,
			stringToIntHook,
			stringToListHook,
		),
	})
	if err != nil {
		return err
	}
	raw := v.Get(name)
	if err := dec.Decode(raw); err != nil {
		return errors.New(plainDecodeError(err, k, raw))
	}
	field.Set(target.Elem())
	return nil
}

func fieldByKey(v reflect.Value, path []string) (reflect.Value, error) {
	for _, part := range path {
		t := v.Type()
		found := false
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("mapstructure") == part {
				v = v.Field(i)
				found = true
				break
			}
		}
		if !found {
			return reflect.Value{}, fmt.Errorf("internal: no field for %q", part)
		}
	}
	return v, nil
}

var byteSizeType = reflect.TypeOf(ByteSize(0))

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		n, err := humanize.ParseBytes(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("%q is not a size (use e.g. 4194304, 4MiB or 64MB)", d)
		}
		return ByteSize(n), nil
	case int, int64, uint64, float64:
		return data, nil
	}
	return nil, fmt.Errorf("expected a size, got %T", data)
}

var durationType = reflect.TypeOf(time.Duration(0))

func durationHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if to != durationType || !ok {
		return data, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration (use e.g. 720h, 30m or 10s)", s)
	}
	return d, nil
}

// stringToIntHook lets environment variables give whole numbers as text.
func stringToIntHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Int {
		return data, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// stringToListHook lets environment variables give lists as comma-separated text.
func stringToListHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Slice {
		return data, nil
	}
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, part)
	}
	return out, nil
}

func cleanDecodeError(err error) string {
	msg := oneLine(err)
	// mapstructure prefixes "decoding failed due to the following error(s):"
	// and the (empty) field name; the key is named by our caller.
	if i := strings.LastIndex(msg, "error(s):"); i >= 0 {
		msg = strings.TrimSpace(msg[i+len("error(s):"):])
	}
	msg = strings.TrimPrefix(msg, "'' ")
	msg = strings.ReplaceAll(msg, "expected type", "expected")
	return msg
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// unknownKeys reports keys in the file that mailseal does not know: usually typos.
func unknownKeys(v *viper.Viper) Problems {
	known := knownKeys()
	var ps Problems
	for _, key := range v.AllKeys() {
		if _, ok := known[key]; ok {
			continue
		}
		if isSection(key, known) {
			ps = append(ps, Problem{Key: key, Message: "must be a mapping of " + key + ".* keys, not a value"})
			continue
		}
		msg := "unknown key"
		if s := suggest(key, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		ps = append(ps, Problem{Key: key, Message: msg})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
	return ps
}

// unknownRuleKeys checks the fields of each policy rule, which the key table
// cannot list: a misspelt "recipents" must not silently widen a rule.
func unknownRuleKeys(raw any) Problems {
	list, ok := raw.([]any)
	if !ok {
		return nil
	}
	fields := map[string]Key{}
	t := reflect.TypeOf(policy.RuleSpec{})
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("mapstructure")
		fields[name] = Key{Name: name}
	}
	var ps Problems
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			ps = append(ps, Problem{Key: fmt.Sprintf("policy.rules[%d]", i), Message: "must be a mapping with name, senders/recipients and actions"})
			continue
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := fields[strings.ToLower(k)]; ok {
				continue
			}
			msg := "unknown key"
			if s := suggest(strings.ToLower(k), fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			ps = append(ps, Problem{Key: fmt.Sprintf("policy.rules[%d].%s", i, k), Message: msg})
		}
	}
	return ps
}

func isSection(key string, known map[string]Key) bool {
	for k := range known {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// unknownEnv reports MAILSEAL_* variables that match no key, since viper
// would otherwise ignore a misspelt override silently.
func unknownEnv(environ []string) Problems {
	valid := map[string]bool{envConfigFile: true, EnvP12Password: true}
	for _, k := range Keys {
		valid[EnvPrefix+"_"+strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_"))] = true
	}
	var ps Problems
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix+"_") && !valid[name] {
			msg := "unknown environment variable (no such key)"
			if s := suggest(name, validKeys(valid)); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			ps = append(ps, Problem{Key: name, Message: msg})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
	return ps
}

func suggest(key string, known map[string]Key) string {
	best, bestDist := "", 4
	for k := range known {
		if d := editDistance(key, k); d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/mailseal"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "mailseal")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "mailseal")
	}
	return "mailseal-state"
}

func defaultAuthservID() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}
