//go:build !unix

package daemon

// heldLimit is how many connections the endpoint may hold unread.
func heldLimit() int { return maxHeld }
