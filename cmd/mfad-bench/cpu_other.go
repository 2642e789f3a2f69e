//go:build !unix

package main

import "time"

// selfCPU is 0 where getrusage is missing: the report then leaves out the
// CPU time per request.
func selfCPU() time.Duration { return 0 }
