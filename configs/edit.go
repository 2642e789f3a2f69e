package configs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/c0950fac/mfad/internal/fileutil"
)

// SetProfileValue sets profiles.PROFILE.KEY to value in the mfad
// configuration file, creating the file or the profile when needed. It edits
// the YAML document in place, so comments and the order of keys survive, and
// writes it atomically.
func SetProfileValue(file, profile, key, value string) error {
	return editFile(file, func(root *yaml.Node) error {
		profiles, err := mappingChild(root, "profiles", file)
		if err != nil {
			return err
		}
		p, err := mappingChild(profiles, profile, file)
		if err != nil {
			return err
		}
		setScalar(p, key, value)
		return nil
	})
}

// SetProfileValuesIfUnset sets, in one atomic edit of the mfad
// configuration file, each profiles.PROFILE.KEY of values (pairs of key and
// value, in order) that the file does not set already.
func SetProfileValuesIfUnset(file, profile string, values [][2]string) error {
	return editFile(file, func(root *yaml.Node) error {
		profiles, err := mappingChild(root, "profiles", file)
		if err != nil {
			return err
		}
		p, err := mappingChild(profiles, profile, file)
		if err != nil {
			return err
		}
		for _, kv := range values {
			set := false
			for i := 0; i+1 < len(p.Content); i += 2 {
				if strings.EqualFold(p.Content[i].Value, kv[0]) {
					set = true
				}
			}
			if !set {
				// Tagged as text, so that a value YAML would read as a
				// number (an all-digit external ID) is quoted.
				p.Content = append(p.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[0]},
					&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv[1]})
			}
		}
		return nil
	})
}

// SetValue sets the top-level KEY (such as listen or lock_on_sleep) to
// value in the mfad configuration file, creating the file when needed. Like
// SetProfileValue it keeps comments and the order of keys, and writes the
// file atomically. value is written as a plain YAML scalar, so "true" is a
// boolean and "127.0.0.1:58321" text.
func SetValue(file, key, value string) error {
	if key == keyKeyring || key == keyProfiles || !containsString(topKeys(), key) {
		var scalars []string
		for _, k := range topKeys() {
			if k != keyKeyring && k != keyProfiles {
				scalars = append(scalars, k)
			}
		}
		return fmt.Errorf("%q is not a top-level setting SetValue can write; use one of %s", key, strings.Join(scalars, ", "))
	}
	return editFile(file, func(root *yaml.Node) error {
		setScalar(root, key, value)
		return nil
	})
}

// editTimeout bounds the wait for another mfad process editing the same
// configuration file.
const editTimeout = 30 * time.Second

// editFile reads file's YAML document (an empty one when the file is
// missing), lets edit change its top-level mapping, and writes it back
// atomically. Edits by several processes at once are serialised by a lock
// file beside it (FILE.lock), and the file is read under the lock, so no
// edit is lost.
func editFile(file string, edit func(root *yaml.Node) error) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), editTimeout)
	defer cancel()
	unlock, err := fileutil.Lock(ctx, file+".lock")
	if err != nil {
		return fmt.Errorf("edit %s: %w", file, err)
	}
	defer unlock()
	var doc yaml.Node
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		b = nil
	case err != nil:
		return fmt.Errorf("read %s: %w", file, err)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s is not valid YAML: %w", file, err)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: the top level must be a mapping of keys", file)
	}
	if err := edit(root); err != nil {
		return err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("encode %s: %w", file, err)
	}
	return fileutil.WriteFileAtomic(file, out.Bytes(), 0o600)
}

// mappingChild returns the mapping under key in m, adding it when absent.
func mappingChild(m *yaml.Node, key, file string) (*yaml.Node, error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "") {
				v.Kind, v.Tag, v.Value = yaml.MappingNode, "", ""
			}
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%s: %s must be a mapping", file, key)
			}
			return v, nil
		}
	}
	v := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	return v, nil
}

func setScalar(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Value: value, LineComment: m.Content[i+1].LineComment}
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
}

// ReplaceFile writes data to path atomically (a synced temporary file in the
// same directory, then a rename), as a file only its owner can read,
// creating the directory (0700) when needed. When path is a symbolic link,
// the file it points to is replaced, so that the link survives.
func ReplaceFile(path string, data []byte) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return fileutil.WriteFileAtomic(path, data, 0o600)
}
