package rotate

import "testing"

func TestSigningRegion(t *testing.T) {
	for region, want := range map[string]string{
		"": "us-east-1", "eu-west-1": "us-east-1", "cn-northwest-1": "cn-north-1", "us-gov-east-1": "us-gov-west-1",
	} {
		if got := SigningRegion(region); got != want {
			t.Errorf("SigningRegion(%q) = %q, want %q", region, got, want)
		}
	}
}
