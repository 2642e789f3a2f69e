package configs

import (
	"bytes"
	"testing"
)

// FuzzIniWithout checks that removing keys from any file the parser
// accepts removes exactly those keys: the rest parses to the same sections
// and values, and every byte left is in the original, in order.
func FuzzIniWithout(f *testing.F) {
	f.Add([]byte("[default]\naws_access_key_id = AKIA\naws_secret_access_key=s\nregion = x\n"))
	f.Add([]byte("# c\n[work]\r\n  aws_access_key_id: a\n    more\n; c\naws_secret_access_key = b\n[x] y\nk=v"))
	f.Add([]byte("[a]\naws_secret_access_key = s\n\n\n[b]\naws_access_key_id=1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		old, err := ParseIniFile("f", data)
		if err != nil {
			return
		}
		remove := map[string][]string{}
		for _, s := range old.Sections {
			remove[s.Header] = []string{CredAccessKeyID, CredSecretAccessKey}
		}
		out := old.Without(remove)
		nf, err := ParseIniFile("f", out)
		if err != nil {
			t.Fatalf("the edited file no longer parses: %v\n%q\n%q", err, data, out)
		}
		if len(nf.Sections) != len(old.Sections) {
			t.Fatalf("sections %d -> %d\n%q\n%q", len(old.Sections), len(nf.Sections), data, out)
		}
		for i, o := range old.Sections {
			n := nf.Sections[i]
			if n.Header != o.Header || n.HasStaticKeys() {
				t.Fatalf("section %q -> %q (keys left: %v)\n%q\n%q", o.Header, n.Header, n.HasStaticKeys(), data, out)
			}
			for k, v := range o.Keys {
				if k == CredAccessKeyID || k == CredSecretAccessKey {
					continue
				}
				if nv, ok := n.Keys[k]; !ok || nv.Value != v.Value {
					t.Fatalf("[%s] %s changed\n%q\n%q", o.Header, k, data, out)
				}
			}
		}
		// out is data with whole spans cut: a subsequence of it.
		rest := data
		for _, b := range out {
			i := bytes.IndexByte(rest, b)
			if i < 0 {
				t.Fatalf("byte %q not in the original\n%q\n%q", b, data, out)
			}
			rest = rest[i+1:]
		}
	})
}
