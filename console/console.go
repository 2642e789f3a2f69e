// Package console makes AWS Management Console sign-in URLs from role
// credentials, following AWS's "custom identity broker" flow: the
// federation endpoint's getSigninToken exchanges the credentials (the
// Session JSON) for a sign-in token, and the login URL carries that token
// with a Destination and an Issuer.
//
// A sign-in URL is a secret for its 15 minutes of validity: it signs
// whoever opens it in to the console. Nothing here logs it.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Issuer is the Issuer of mfad's login URLs: where the console sends a
// person whose session ended.
const Issuer = "https://github.com/c0950fac/mfad"

// AWS's limits on SessionDuration, the console session's length.
const (
	MinSessionDuration = 15 * time.Minute
	MaxSessionDuration = 12 * time.Hour
)

// URLTTL is how long AWS accepts a login URL after its token was issued.
const URLTTL = 15 * time.Minute

// Options configure the federation endpoint.
type Options struct {
	// Endpoint overrides the federation endpoint URL ("" = AWS's for the
	// region's partition, see Endpoint).
	Endpoint string
	// HTTPClient sends the request; nil = a client with a 30 s timeout.
	HTTPClient *http.Client
}

// Input is one sign-in.
type Input struct {
	// Credentials are role credentials (AssumeRole): the federation
	// endpoint refuses GetSessionToken credentials.
	Credentials aws.Credentials
	// Region picks the partition and the console's region ("" = the
	// console's default).
	Region string
	// Path is the console page to open, e.g. "s3/home" ("" = the console
	// home).
	Path string
	// SessionDuration asks for a console session of that length (0 = the
	// credentials' own lifetime). AWS refuses it for role credentials
	// assumed with temporary credentials (role chaining).
	SessionDuration time.Duration
}

// partition returns the federation endpoint and console domain of region.
func partition(region string) (endpoint, consoleDomain string) {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "https://signin.amazonaws.cn/federation", "console.amazonaws.cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "https://signin.amazonaws-us-gov.com/federation", "console.amazonaws-us-gov.com"
	}
	return "https://signin.aws.amazon.com/federation", "console.aws.amazon.com"
}

// Endpoint is AWS's federation endpoint for region's partition.
func Endpoint(region string) string {
	e, _ := partition(region)
	return e
}

// Destination is the console URL a sign-in lands on.
func Destination(region, path string) (string, error) {
	_, domain := partition(region)
	path = strings.TrimPrefix(path, "/")
	if p, err := url.Parse(path); err != nil || p.Scheme != "" || p.Host != "" || strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("--path %q: give a console path such as s3/home, not a URL", path)
	}
	host := domain
	if region != "" {
		host = region + "." + domain
	}
	if path == "" {
		path = "console/home"
	}
	u, err := url.Parse("https://" + host + "/" + path)
	if err != nil {
		return "", fmt.Errorf("--path %q: %w", path, err)
	}
	if region != "" {
		q := u.Query()
		q.Set("region", region)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// SigninURL returns a login URL for in.Credentials.
func SigninURL(ctx context.Context, o Options, in Input) (string, error) {
	if in.Credentials.SessionToken == "" {
		return "", errors.New("console sign-in needs temporary role credentials")
	}
	if d := in.SessionDuration; d != 0 && (d < MinSessionDuration || d > MaxSessionDuration) {
		return "", fmt.Errorf("a console session lasts %s to %s, not %s", MinSessionDuration, MaxSessionDuration, d)
	}
	dest, err := Destination(in.Region, in.Path)
	if err != nil {
		return "", err
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = Endpoint(in.Region)
	}
	session, err := json.Marshal(map[string]string{
		"sessionId":    in.Credentials.AccessKeyID,
		"sessionKey":   in.Credentials.SecretAccessKey,
		"sessionToken": in.Credentials.SessionToken,
	})
	if err != nil {
		return "", err
	}
	q := url.Values{"Action": {"getSigninToken"}, "Session": {string(session)}}
	if in.SessionDuration > 0 {
		q.Set("SessionDuration", strconv.Itoa(int(in.SessionDuration/time.Second)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return "", fmt.Errorf("federation endpoint %s: %w", endpoint, err)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The error quotes the request URL, which carries the credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("federation endpoint %s: getSigninToken: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("federation endpoint %s: read the answer: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("federation endpoint %s: getSigninToken: %s: %s", endpoint, resp.Status, firstLine(body))
	}
	var out struct{ SigninToken string }
	if err := json.Unmarshal(body, &out); err != nil || out.SigninToken == "" {
		return "", fmt.Errorf("federation endpoint %s: getSigninToken answered no SigninToken", endpoint)
	}
	lq := url.Values{"Action": {"login"}, "Issuer": {Issuer}, "Destination": {dest}, "SigninToken": {out.SigninToken}}
	return endpoint + "?" + lq.Encode(), nil
}

// firstLine is the first line of an error body, bounded, for messages.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
