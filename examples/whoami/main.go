// Command whoami prints the AWS identity that the AWS SDK for Go's default
// credential chain resolves to. It contains nothing mfad-specific: run under
// `mfad exec`, `mfad sandbox` or after `eval "$(mfad env)"`, the SDK fetches
// its credentials from the mfad daemon's endpoint.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami: load AWS configuration:", err)
		os.Exit(1)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami: retrieve credentials:", err)
		os.Exit(1)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami: GetCallerIdentity:", err)
		os.Exit(1)
	}
	fmt.Printf("Arn:         %s\nAccount:     %s\nCredentials: %s from %s, expiring %s\n",
		aws.ToString(out.Arn), aws.ToString(out.Account), creds.AccessKeyID, creds.Source, creds.Expires.UTC().Format(time.RFC3339))
}
