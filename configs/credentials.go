package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Keys of the AWS shared credentials file.
const (
	CredAccessKeyID     = "aws_access_key_id"
	CredSecretAccessKey = "aws_secret_access_key"
	CredSessionToken    = "aws_session_token"
	// CredSecurityToken is botocore's older name for aws_session_token.
	CredSecurityToken = "aws_security_token"
)

// SharedCredentialsPath returns the AWS shared credentials file the SDKs
// read: $AWS_SHARED_CREDENTIALS_FILE, else HOME/.aws/credentials ("" when
// neither is known).
func SharedCredentialsPath(getenv func(string) string, home string) string {
	if getenv != nil {
		if p := getenv("AWS_SHARED_CREDENTIALS_FILE"); p != "" {
			return expandHome(p, home)
		}
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".aws", "credentials")
}

// IniFile is an AWS shared credentials or config file read line by line, as
// botocore's parser reads it, keeping where each key is written so that keys
// can be removed without touching any other byte.
type IniFile struct {
	// Path is the file's path.
	Path string
	// Data is the file's content as read.
	Data []byte
	// Sections are the file's sections in order.
	Sections []*IniSection
}

// IniSection is one [section] of an IniFile.
type IniSection struct {
	// Header is the text between the brackets, trimmed.
	Header string
	// Line is the header's line number (1-based).
	Line int
	// Keys maps lower-case key names to their entries.
	Keys map[string]*IniKey
	// headerEnd is the byte offset just after the header line.
	headerEnd int
	// end is the byte offset where the section ends.
	end int
}

// IniKey is one key = value entry of a section.
type IniKey struct {
	// Value is the value, trimmed; continuation lines are joined with "\n".
	Value string
	// Line is the key's line number (1-based).
	Line int
	// start and end delimit the entry's lines (continuations included) in
	// IniFile.Data.
	start, end int
}

// Section returns the section whose header is header, or nil.
func (f *IniFile) Section(header string) *IniSection {
	for _, s := range f.Sections {
		if s.Header == header {
			return s
		}
	}
	return nil
}

// Get returns the value of key (lower case) and whether it is set.
func (s *IniSection) Get(key string) (string, bool) {
	if k, ok := s.Keys[key]; ok {
		return k.Value, true
	}
	return "", false
}

// ReadIniFile reads and parses path. A missing file yields (nil, nil).
func ReadIniFile(path string) (*IniFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read %s; check that it is a regular file you can read: %w", path, err)
	}
	return ParseIniFile(path, data)
}

// ParseIniFile parses data as an AWS shared credentials or config file.
// Like botocore, it reads "key = value" and "key: value" lines, full-line
// comments starting with # or ;, and indented continuation lines; a key or
// a section given twice is an error, as it is for the AWS CLI.
func ParseIniFile(path string, data []byte) (*IniFile, error) {
	f := &IniFile{Path: path, Data: data}
	var (
		cur        *IniSection
		last       *IniKey
		lastIndent int
		errs       []error
		seen       = map[string]int{}
	)
	off := 0
	for lineNo := 1; off < len(data); lineNo++ {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off + 1
		}
		raw := string(data[off:end])
		start := off
		off = end
		text := strings.TrimRight(raw, "\r\n")
		trimmed := strings.TrimSpace(text)
		indent := len(text) - len(strings.TrimLeft(text, " \t"))
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		if last != nil && indent > lastIndent {
			// A continuation of the previous key's value.
			last.Value += "\n" + trimmed
			last.end = end
			continue
		}
		last = nil
		if trimmed[0] == '[' {
			// Like botocore's parser, the name runs to the last "]", and
			// what follows it is ignored.
			closing := strings.LastIndexByte(trimmed, ']')
			if closing < 2 {
				errs = append(errs, fmt.Errorf("%s:%d: malformed section header %q; write it as [NAME]", path, lineNo, trimmed))
				cur = nil
				continue
			}
			if cur != nil {
				cur.end = start
			}
			header := strings.TrimSpace(trimmed[1:closing])
			if prev, dup := seen[header]; dup {
				errs = append(errs, fmt.Errorf("%s:%d: section [%s] is also at line %d; the AWS CLI refuses a file with a section given twice: merge them", path, lineNo, header, prev))
			}
			seen[header] = lineNo
			cur = &IniSection{Header: header, Line: lineNo, Keys: map[string]*IniKey{}, headerEnd: end}
			f.Sections = append(f.Sections, cur)
			continue
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			errs = append(errs, fmt.Errorf("%s:%d: a line that is neither [section], key = value nor a comment; fix or remove it", path, lineNo))
			continue
		}
		if cur == nil {
			errs = append(errs, fmt.Errorf("%s:%d: a key before any [section]; put it under a section", path, lineNo))
			continue
		}
		key := strings.ToLower(strings.TrimSpace(trimmed[:i]))
		if prev, dup := cur.Keys[key]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: %s is also set at line %d in [%s]; the AWS CLI refuses a key given twice: keep one", path, lineNo, key, prev.Line, cur.Header))
		}
		last = &IniKey{Value: strings.TrimSpace(trimmed[i+1:]), Line: lineNo, start: start, end: end}
		lastIndent = indent
		cur.Keys[key] = last
	}
	if cur != nil {
		cur.end = len(data)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// Without returns the file's content with the entries of keys removed from
// the named sections: exactly their lines (continuations included), every
// other byte as it was. Absent sections or keys are not an error.
func (f *IniFile) Without(remove map[string][]string) []byte {
	type span struct{ start, end int }
	var spans []span
	for _, s := range f.Sections {
		for _, k := range remove[s.Header] {
			if e, ok := s.Keys[k]; ok {
				spans = append(spans, span{e.start, e.end})
			}
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	out := make([]byte, 0, len(f.Data))
	at := 0
	for _, sp := range spans {
		out = append(out, f.Data[at:sp.start]...)
		at = sp.end
	}
	return append(out, f.Data[at:]...)
}

// HasStaticKeys reports whether the section sets an access key id or a
// secret access key.
func (s *IniSection) HasStaticKeys() bool {
	_, id := s.Keys[CredAccessKeyID]
	_, secret := s.Keys[CredSecretAccessKey]
	return id || secret
}

// HasSessionToken reports whether the section holds temporary credentials.
func (s *IniSection) HasSessionToken() bool {
	_, tok := s.Keys[CredSessionToken]
	_, old := s.Keys[CredSecurityToken]
	return tok || old
}

// CommentOut returns the file's content with the entries of keys in
// section header turned into comments (each line prefixed with "# " and
// note) and line added just after the section's header. Every other byte
// stays as it was.
func (f *IniFile) CommentOut(header string, keys []string, note, line string) []byte {
	s := f.Section(header)
	if s == nil {
		return append([]byte(nil), f.Data...)
	}
	type span struct{ start, end int }
	var spans []span
	for _, k := range keys {
		if e, ok := s.Keys[k]; ok {
			spans = append(spans, span{e.start, e.end})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	nl := "\n"
	if bytes.HasSuffix(f.Data[:s.headerEnd], []byte("\r\n")) {
		nl = "\r\n"
	}
	out := make([]byte, 0, len(f.Data)+len(line)+64)
	out = append(out, f.Data[:s.headerEnd]...)
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, nl...)
	}
	out = append(out, line+nl...)
	at := s.headerEnd
	for _, sp := range spans {
		out = append(out, f.Data[at:sp.start]...)
		for _, l := range strings.SplitAfter(string(f.Data[sp.start:sp.end]), "\n") {
			if l != "" {
				out = append(out, "# "+note+strings.TrimLeft(l, " \t")...)
			}
		}
		at = sp.end
	}
	return append(out, f.Data[at:]...)
}
