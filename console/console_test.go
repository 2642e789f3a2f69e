package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestPartitions(t *testing.T) {
	for _, tt := range []struct{ region, path, endpoint, dest string }{
		{"", "", "https://signin.aws.amazon.com/federation", "https://console.aws.amazon.com/console/home"},
		{"eu-west-1", "s3/home", "https://signin.aws.amazon.com/federation", "https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1"},
		{"cn-north-1", "", "https://signin.amazonaws.cn/federation", "https://cn-north-1.console.amazonaws.cn/console/home?region=cn-north-1"},
		{"us-gov-west-1", "/ec2/home", "https://signin.amazonaws-us-gov.com/federation", "https://us-gov-west-1.console.amazonaws-us-gov.com/ec2/home?region=us-gov-west-1"},
	} {
		if got := Endpoint(tt.region); got != tt.endpoint {
			t.Errorf("Endpoint(%q) = %q", tt.region, got)
		}
		if got, err := Destination(tt.region, tt.path); err != nil || got != tt.dest {
			t.Errorf("Destination(%q, %q) = %q, %v; want %q", tt.region, tt.path, got, err, tt.dest)
		}
	}
	for _, bad := range []string{"https://evil.example/", "//evil.example/x", "javascript:alert(1)"} {
		if _, err := Destination("eu-west-1", bad); err == nil {
			t.Errorf("Destination accepted path %q", bad)
		}
	}
}

// TestSigninURLKeepsSecretsOutOfErrors: a failing federation endpoint's
// error names the endpoint, never the request (which carries the Session
// credentials); no SessionDuration is sent unless asked for.
func TestSigninURLKeepsSecretsOutOfErrors(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLEEXAMPLE12", SecretAccessKey: "secret-secret-secret", SessionToken: "token-token-token"}
	var sawDuration bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sawDuration = r.URL.Query()["SessionDuration"]
		http.Error(w, "Invalid credentials parameter", http.StatusBadRequest)
	}))
	defer srv.Close()
	_, err := SigninURL(context.Background(), Options{Endpoint: srv.URL}, Input{Credentials: creds, Region: "eu-west-1"})
	if err == nil || !strings.Contains(err.Error(), "Invalid credentials parameter") || sawDuration {
		t.Fatalf("err %v, SessionDuration sent: %v", err, sawDuration)
	}
	for _, s := range []string{creds.SecretAccessKey, creds.SessionToken} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the error shows a secret: %v", err)
		}
	}
	// An unreachable endpoint: the transport error quotes no URL either.
	srv.Close()
	_, err = SigninURL(context.Background(), Options{Endpoint: srv.URL}, Input{Credentials: creds, SessionDuration: time.Hour})
	if err == nil || strings.Contains(err.Error(), creds.SessionToken) || strings.Contains(err.Error(), creds.SecretAccessKey) {
		t.Fatalf("unreachable endpoint: %v", err)
	}
	if _, err := SigninURL(context.Background(), Options{Endpoint: srv.URL}, Input{Credentials: creds, SessionDuration: 13 * time.Hour}); err == nil {
		t.Fatal("a 13-hour console session was asked for")
	}
}
