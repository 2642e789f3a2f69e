package configs

import (
	"strings"
	"testing"
)

// A role profile assumed from a role profile is not served, nor is one
// assumed from that, whatever order their names sort in.
func TestAWSRoleChainsNotServed(t *testing.T) {
	f := newFixture(t)
	f.aws(t, `[profile k]
mfa_serial = arn:aws:iam::111122223333:mfa/alice

[profile x]
role_arn = arn:aws:iam::111122223333:role/x
source_profile = k

[profile y]
role_arn = arn:aws:iam::111122223333:role/y
source_profile = x

[profile z]
role_arn = arn:aws:iam::111122223333:role/z
source_profile = y
`)
	c := f.mustLoad(t)
	if _, ok := c.Profiles["x"]; !ok {
		t.Errorf("x, a role on the key profile k, is not served: %q", c.NotServed["x"])
	}
	for _, n := range []string{"y", "z"} {
		if _, ok := c.Profiles[n]; ok {
			t.Errorf("%s, a role assumed from a role, is served", n)
		}
		if why := c.NotServed[n]; !strings.Contains(why, "is itself a role profile") {
			t.Errorf("NotServed[%s] = %q", n, why)
		}
	}
}
