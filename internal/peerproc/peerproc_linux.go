//go:build linux

package peerproc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds of what a Finder remembers.
const (
	// maxCache is how many connections a Finder remembers.
	maxCache = 1024
	// maxRecent is how many recent client pids are searched first.
	maxRecent = 16
	// recheckAfter is how long a found connection is trusted before the
	// process is checked to still hold the socket. A new connection with
	// the same two addresses within it would need the kernel to hand out
	// the same client port again at once, which it avoids.
	recheckAfter = time.Second
)

// Finder finds the processes behind loopback TCP connections. It remembers
// where it found each connection, so that looking up a kept-alive
// connection again costs one readlink, and searches the processes that
// connected recently first. It is safe for concurrent use.
type Finder struct {
	// root is the proc file system ("/proc"; tests use a fake tree).
	root string
	// now tells the time, for recheckAfter.
	now func() time.Time
	// noDiag is set once sock_diag has proved unusable: the socket
	// tables are read instead.
	noDiag bool

	mu     sync.Mutex
	cache  map[connKey]found
	recent []int
	// sockets indexes every socket link seen while scanning processes'
	// open files, so that a client opening many connections is scanned
	// once, not once per connection. Entries are verified before use.
	sockets map[string]sockRef
}

// sockRef is where a socket was last seen open.
type sockRef struct {
	pid int
	fd  string
}

// maxSockets bounds the socket index.
const maxSockets = 1 << 16

// connKey names a connection from the client's side.
type connKey struct {
	client, server netip.AddrPort
}

// found is where a connection's socket was found.
type found struct {
	inode   uint64
	fd      string
	proc    Process
	checked time.Time
}

// NewFinder returns a Finder reading /proc.
func NewFinder() *Finder {
	return &Finder{root: "/proc", now: time.Now, cache: map[connKey]found{}}
}

// Conn returns the process holding the client end of the TCP connection
// from client to server (both as the client sees them: its local and its
// remote address). When the socket is found but no readable process holds
// it, the error wraps ErrNotFound and the returned Process still has the
// socket owner's UID; otherwise an error returns a Process with UID -1.
func (f *Finder) Conn(client, server netip.AddrPort) (Process, error) {
	key := connKey{client: client, server: server}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if c, ok := f.cache[key]; ok {
		if now.Sub(c.checked) < recheckAfter {
			return c.proc, nil
		}
		if f.holds(c.proc.PID, c.fd, c.inode) {
			c.checked = now
			f.cache[key] = c
			f.touch(c.proc.PID)
			return c.proc, nil
		}
		delete(f.cache, key)
	}
	inode, uid, err := f.socket(client, server)
	if err != nil {
		return Process{UID: -1}, err
	}
	pid, fd, err := f.owner(inode)
	if err != nil {
		return Process{UID: uid}, fmt.Errorf("socket %d of connection %s -> %s (uid %d): %w", inode, client, server, uid, err)
	}
	p := f.describe(pid)
	p.UID = uid
	if len(f.cache) >= maxCache {
		clear(f.cache)
	}
	f.cache[key] = found{inode: inode, fd: fd, proc: p, checked: now}
	f.touch(pid)
	return p, nil
}

// ConnUID returns the uid that owns the client end of the TCP connection
// from client to server (as the client sees them), through sock_diag alone:
// one kernel lookup, cheap enough to make for every accepted connection.
// Where sock_diag cannot be used the error wraps ErrUnsupported; when the
// client has already closed its socket it wraps ErrNotFound.
func ConnUID(client, server netip.AddrPort) (int, error) {
	_, uid, err := diagSocket(client, server)
	if errors.Is(err, errNoDiag) {
		return -1, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return uid, err
}

// Process describes the process pid: its executable, parent and effective
// uid.
func (f *Finder) Process(pid int) (Process, error) {
	if pid <= 0 {
		return Process{UID: -1}, fmt.Errorf("process %d: %w", pid, ErrNotFound)
	}
	if _, err := os.Stat(filepath.Join(f.root, strconv.Itoa(pid))); err != nil {
		return Process{UID: -1}, fmt.Errorf("process %d: %w", pid, ErrNotFound)
	}
	p := f.describe(pid)
	p.UID = f.uid(pid)
	return p, nil
}

// holds reports whether process pid still has socket inode open as fd.
func (f *Finder) holds(pid int, fd string, inode uint64) bool {
	l, err := os.Readlink(filepath.Join(f.root, strconv.Itoa(pid), "fd", fd))
	return err == nil && l == socketLink(inode)
}

// touch moves pid to the front of the recent list.
func (f *Finder) touch(pid int) {
	if i := slices.Index(f.recent, pid); i >= 0 {
		f.recent = slices.Delete(f.recent, i, i+1)
	}
	f.recent = slices.Insert(f.recent, 0, pid)
	if len(f.recent) > maxRecent {
		f.recent = f.recent[:maxRecent]
	}
}

func socketLink(inode uint64) string {
	return "socket:[" + strconv.FormatUint(inode, 10) + "]"
}

// socket finds the inode and owner uid of the socket whose local address
// is client and remote address server: through sock_diag, else in the
// socket tables.
func (f *Finder) socket(client, server netip.AddrPort) (inode uint64, uid int, err error) {
	if !f.noDiag {
		inode, uid, err := diagSocket(client, server)
		if !errors.Is(err, errNoDiag) {
			if errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("connection %s -> %s: %w", client, server, err)
			}
			return inode, uid, err
		}
		f.noDiag = true
	}
	return f.socketTable(client, server)
}

// socketTable finds the socket in net/tcp and net/tcp6 (where an IPv6
// socket connected to an IPv4 address shows it v4-mapped).
func (f *Finder) socketTable(client, server netip.AddrPort) (inode uint64, uid int, err error) {
	type table struct{ file, local, remote string }
	var tables []table
	c, s := client.Addr().Unmap(), server.Addr().Unmap()
	if c.Is4() && s.Is4() {
		tables = append(tables,
			table{"tcp", encode4(c.As4(), client.Port()), encode4(s.As4(), server.Port())},
			// As16 of an IPv4 address is its v4-mapped form.
			table{"tcp6", encode6(c.As16(), client.Port()), encode6(s.As16(), server.Port())})
	} else {
		tables = append(tables, table{"tcp6", encode6(c.As16(), client.Port()), encode6(s.As16(), server.Port())})
	}
	for _, t := range tables {
		inode, uid, err := f.scanTable(filepath.Join(f.root, "net", t.file), t.local, t.remote)
		if err == nil {
			return inode, uid, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return 0, -1, err
		}
	}
	return 0, -1, fmt.Errorf("connection %s -> %s: %w", client, server, ErrNotFound)
}

// scanTable looks for the socket with the given encoded local and remote
// addresses in a /proc/net/tcp-style table.
func (f *Finder) scanTable(path, local, remote string) (inode uint64, uid int, err error) {
	file, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, -1, ErrNotFound
		}
		return 0, -1, fmt.Errorf("read the socket table: %w", err)
	}
	defer file.Close()
	return parseTable(file, local, remote)
}

// parseTable reads a /proc/net/tcp-style table from r.
//
//	sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
func parseTable(r io.Reader, local, remote string) (inode uint64, uid int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	want := []byte(local)
	for {
		line, rerr := br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// No table line is this long: skip the rest of it.
			for rerr == bufio.ErrBufferFull {
				_, rerr = br.ReadSlice('\n')
			}
			continue
		}
		if bytes.Contains(line, want) {
			fields := bytes.Fields(line)
			if len(fields) >= 10 && string(fields[1]) == local && string(fields[2]) == remote {
				n, perr := strconv.ParseUint(string(fields[9]), 10, 64)
				u, uerr := strconv.Atoi(string(fields[7]))
				// A socket in TIME_WAIT has no inode: nobody holds it.
				if perr == nil && uerr == nil && n != 0 {
					return n, u, nil
				}
			}
		}
		if rerr == io.EOF {
			return 0, -1, ErrNotFound
		}
		if rerr != nil {
			return 0, -1, fmt.Errorf("read the socket table: %w", rerr)
		}
	}
}

// encode4 writes an IPv4 address and port as /proc/net/tcp does: the
// address as one 32-bit word in host byte order, in hex.
func encode4(a [4]byte, port uint16) string {
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(a[:]), port)
}

// encode6 writes an IPv6 address and port as /proc/net/tcp6 does: four
// 32-bit words in host byte order, in hex.
func encode6(a [16]byte, port uint16) string {
	var b strings.Builder
	for i := 0; i < 16; i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(a[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", port)
	return b.String()
}

// owner finds the process holding socket inode and the fd it holds it as:
// recent clients first, then every process, newest (highest pid) first.
func (f *Finder) owner(inode uint64) (int, string, error) {
	link := socketLink(inode)
	if r, ok := f.sockets[link]; ok && f.holds(r.pid, r.fd, inode) {
		return r.pid, r.fd, nil
	}
	for _, pid := range f.recent {
		if fd, ok := f.findFD(pid, link); ok {
			return pid, fd, nil
		}
	}
	dir, err := os.Open(f.root)
	if err != nil {
		return 0, "", fmt.Errorf("list processes: %w", err)
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return 0, "", fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 && !slices.Contains(f.recent, pid) {
			pids = append(pids, pid)
		}
	}
	slices.SortFunc(pids, func(a, b int) int { return b - a })
	for _, pid := range pids {
		if fd, ok := f.findFD(pid, link); ok {
			return pid, fd, nil
		}
	}
	return 0, "", fmt.Errorf("no process of yours holds it: %w", ErrNotFound)
}

// findFD looks for link among the open files of pid.
func (f *Finder) findFD(pid int, link string) (string, bool) {
	fdDir := filepath.Join(f.root, strconv.Itoa(pid), "fd")
	d, err := os.Open(fdDir)
	if err != nil {
		return "", false // gone, or another user's
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return "", false
	}
	found := ""
	for _, n := range names {
		l, err := os.Readlink(filepath.Join(fdDir, n))
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if f.sockets == nil || len(f.sockets) >= maxSockets {
			f.sockets = map[string]sockRef{}
		}
		f.sockets[l] = sockRef{pid: pid, fd: n}
		if l == link && found == "" {
			found = n
		}
	}
	return found, found != ""
}

// describe reads pid's executable and parent; fields it cannot read stay
// empty.
func (f *Finder) describe(pid int) Process {
	p := Process{PID: pid, UID: -1}
	dir := filepath.Join(f.root, strconv.Itoa(pid))
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		p.Exe = exe
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
		p.PPID = parsePPID(b)
	}
	return p
}

// parsePPID reads the parent pid from /proc/PID/stat: "pid (comm) state
// ppid ...", where comm may hold spaces and parentheses.
func parsePPID(stat []byte) int {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(string(fields[1]))
	return ppid
}

// uid reads pid's effective uid from /proc/PID/status (-1 when unknown).
func (f *Finder) uid(pid int) int {
	b, err := os.ReadFile(filepath.Join(f.root, strconv.Itoa(pid), "status"))
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			if fields := bytes.Fields(rest); len(fields) >= 2 {
				if u, err := strconv.Atoi(string(fields[1])); err == nil {
					return u
				}
			}
		}
	}
	return -1
}
