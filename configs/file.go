package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// fileLayer is what mfad's own configuration file sets.
type fileLayer struct {
	// path is the file that was read.
	path string
	// top holds listen, sts_endpoint, lock_on_sleep, lock_on_screen_lock,
	// keyring.backend and keyring.file, by dotted key.
	top settings
	// profiles maps profile names, as written, to their settings.
	profiles map[string]settings
	// lines locates keys in the file for messages.
	lines lineIndex
}

// lineIndex maps lower-cased key paths (segments joined by "\x00") to the
// line they are written on, and lower-cased profile names to their spelling.
type lineIndex struct {
	line    map[string]int
	profile map[string]string
}

// at returns "FILE:LINE" for the key at path, or "FILE" when unknown.
func (f *fileLayer) at(path ...string) string {
	for i := range path {
		path[i] = strings.ToLower(path[i])
	}
	if n, ok := f.lines.line[strings.Join(path, "\x00")]; ok {
		return fmt.Sprintf("%s:%d", f.path, n)
	}
	return f.path
}

// readFile reads mfad's configuration file at path. A missing file yields
// (nil, nil) unless namedBy is set: then the file was asked for by name (the
// flag or variable namedBy says how) and its absence is an error.
func readFile(path, namedBy string) (*fileLayer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if namedBy == "" {
				return nil, nil
			}
			return nil, fmt.Errorf("configuration file %s (named by %s) does not exist; create it or name an existing file: %w", path, namedBy, err)
		}
		return nil, fmt.Errorf("cannot read configuration file %s; check that it is a regular file you can read: %w", path, err)
	}

	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", path, err)
	}
	f := &fileLayer{path: path, top: settings{}, profiles: map[string]settings{}}
	var errs []error
	f.lines, errs = indexYAML(path, data)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Viper's keys are case-insensitive; the index above has rejected keys
	// that differ only in case and dotted top-level keys, so the first
	// segment of each flattened key is a top-level key as written.
	seen := map[string]bool{}
	var tops []string
	for _, k := range v.AllKeys() {
		top, _, _ := strings.Cut(k, ".")
		if !seen[top] {
			seen[top] = true
			tops = append(tops, top)
		}
	}
	sort.Strings(tops)
	for _, top := range tops {
		switch top {
		case keyListen, keySTSEndpoint, keyIAMEndpoint, keySigninEndpoint:
			f.decodeTop(top, v.Get(top), &errs)
		case keyLockOnSleep, keyLockOnScreen:
			f.decodeTopKind(top, kindBool, v.Get(top), &errs)
		case keyKeyring:
			f.readKeyring(v.Get(keyKeyring), &errs)
		case keyProfiles:
			f.readProfiles(v.Get(keyProfiles), &errs)
		default:
			errs = append(errs, unknownKeyError(f.at(top), top, top, topKeys()))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// decodeTop decodes a text value at the top level or under keyring.
func (f *fileLayer) decodeTop(path string, raw any, errs *[]error) {
	f.decodeTopKind(path, kindString, raw, errs)
}

// decodeTopKind decodes a value of kind k at the top level or under keyring.
func (f *fileLayer) decodeTopKind(path string, k kind, raw any, errs *[]error) {
	val, ok, err := decodeYAML(k, raw)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %s: %w", f.at(strings.Split(path, ".")...), path, err))
		return
	}
	if ok {
		f.top[path] = val
	}
}

// readKeyring reads the keyring mapping.
func (f *fileLayer) readKeyring(raw any, errs *[]error) {
	if raw == nil {
		return
	}
	m, ok := raw.(map[string]any)
	if !ok {
		*errs = append(*errs, fmt.Errorf("%s: keyring: %s is not a mapping; write keyring settings as indented keys (backend: auto, file: PATH)", f.at(keyKeyring), describe(raw)))
		return
	}
	specs := keyringKeys()
	for _, k := range sortedKeys(m) {
		if _, ok := lookupSpec(specs, k); !ok {
			*errs = append(*errs, unknownKeyError(f.at(keyKeyring, k), "keyring."+k, k, keyNames(specs)))
			continue
		}
		f.decodeTop("keyring."+k, m[k], errs)
	}
}

// readProfiles reads the profiles mapping.
func (f *fileLayer) readProfiles(raw any, errs *[]error) {
	if raw == nil {
		return
	}
	m, ok := raw.(map[string]any)
	if !ok {
		*errs = append(*errs, fmt.Errorf("%s: profiles: %s is not a mapping; write one indented entry per profile name (profiles:\\n  work:\\n    mfa_serial: ...)", f.at(keyProfiles), describe(raw)))
		return
	}
	specs := profileKeys()
	for _, lname := range sortedKeys(m) {
		name := lname
		if spelled, ok := f.lines.profile[lname]; ok {
			name = spelled
		}
		s := settings{}
		f.profiles[name] = s
		body := m[lname]
		if body == nil {
			continue
		}
		pm, ok := body.(map[string]any)
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: profiles.%s: %s is not a mapping; write the profile's settings as indented keys (mfa_serial: ..., region: ...)", f.at(keyProfiles, name), name, describe(body)))
			continue
		}
		for _, k := range sortedKeys(pm) {
			path := "profiles." + name + "." + k
			spec, ok := lookupSpec(specs, k)
			if !ok {
				*errs = append(*errs, unknownKeyError(f.at(keyProfiles, name, k), path, k, keyNames(specs)))
				continue
			}
			val, set, err := decodeYAML(spec.kind, pm[k])
			if err != nil {
				*errs = append(*errs, fmt.Errorf("%s: %s: %w", f.at(keyProfiles, name, k), path, err))
				continue
			}
			if set {
				s[k] = val
			}
		}
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// indexYAML records where keys are written and how profile names are
// spelled: the values themselves come from viper, which folds keys to lower
// case, whereas profile names are case-sensitive (as in the AWS CLI). It
// rejects keys that differ only in case, which viper would silently merge,
// and dotted top-level keys, which viper would read as nested ones.
func indexYAML(path string, data []byte) (lineIndex, []error) {
	idx := lineIndex{line: map[string]int{}, profile: map[string]string{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return idx, []error{fmt.Errorf("%s: invalid YAML: %w", path, err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return idx, nil
	}
	var errs []error
	var walk func(n *yaml.Node, prefix []string, depth int)
	walk = func(n *yaml.Node, prefix []string, depth int) {
		if n.Kind != yaml.MappingNode {
			return
		}
		spelled := map[string]string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			lk := strings.ToLower(k.Value)
			where := strings.Join(append(append([]string(nil), prefix...), k.Value), ".")
			if other, dup := spelled[lk]; dup {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %q and %q differ only in case; keep one of them", path, k.Line, where, other, k.Value))
				continue
			}
			spelled[lk] = k.Value
			if depth == 0 && strings.Contains(k.Value, ".") {
				errs = append(errs, fmt.Errorf("%s:%d: %s: dotted keys are not supported; write each part on its own indented line (keyring:\\n  backend: os)", path, k.Line, k.Value))
				continue
			}
			p := append(append([]string(nil), prefix...), lk)
			idx.line[strings.Join(p, "\x00")] = k.Line
			if depth == 1 && prefix[0] == keyProfiles {
				idx.profile[lk] = k.Value
			}
			if depth < 2 {
				walk(val, p, depth+1)
			}
		}
	}
	walk(doc.Content[0], nil, 0)
	return idx, errs
}
