package audit

import (
	"fmt"
	"time"
)

// The processes behind connections that were only refused for want of a
// valid token are looked up at most RefusalLookups times per
// RefusalWindow: a flood of such requests, each on a new connection, must
// not cost the daemon a process search apiece. The requests beyond are
// still counted, under an unknown process.
const (
	RefusalWindow  = time.Minute
	RefusalLookups = 60
)

// refusalNote is the Note of refused requests whose process was not
// looked up.
var refusalNote = fmt.Sprintf("process not looked up: more than %d connections without a valid token in %s", RefusalLookups, RefusalWindow)

// lookupLimiter allows RefusalLookups lookups per RefusalWindow. It is used
// by the writer goroutine only.
type lookupLimiter struct {
	windowEnd time.Time
	used      int
}

// allow reports whether one more lookup may be made at now.
func (l *lookupLimiter) allow(now time.Time) bool {
	if !now.Before(l.windowEnd) {
		l.windowEnd, l.used = now.Add(RefusalWindow), 0
	}
	if l.used >= RefusalLookups {
		return false
	}
	l.used++
	return true
}
