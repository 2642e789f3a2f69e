//go:build linux

package peerproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperAddrEnv tells TestHelperClient where to connect.
const helperAddrEnv = "PEERPROC_HELPER_ADDR"

// TestHelperClient is not a test: run as a child, it connects to the
// address in PEERPROC_HELPER_ADDR, prints its local address, and holds the
// connection until its standard input closes.
func TestHelperClient(t *testing.T) {
	addr := os.Getenv(helperAddrEnv)
	if addr == "" {
		t.Skip("helper process for TestConnFindsChild")
	}
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	fmt.Println(c.LocalAddr().String())
	bufio.NewReader(os.Stdin).ReadString('\n')
	c.Close()
	os.Exit(0)
}

// loopback returns a listener on 127.0.0.1 and a connection to it from this
// process.
func loopback(t *testing.T) (net.Listener, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if s, ok := <-accepted; ok {
		t.Cleanup(func() { s.Close() })
	}
	return ln, c
}

func addrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func selfExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestConnFindsThisProcess(t *testing.T) {
	ln, c := loopback(t)
	f := NewFinder()
	client, server := addrPort(t, c.LocalAddr()), addrPort(t, ln.Addr())
	p, err := f.Conn(client, server)
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() || p.Exe != selfExe(t) || p.UID != os.Getuid() || p.PPID != os.Getppid() {
		t.Fatalf("found %+v, want pid %d exe %s uid %d ppid %d", p, os.Getpid(), selfExe(t), os.Getuid(), os.Getppid())
	}
	// Again, from the cache.
	if p2, err := f.Conn(client, server); err != nil || p2 != p {
		t.Fatalf("second lookup: %+v %v", p2, err)
	}
	// No connection: not even the listener on the "client" port is taken
	// for one, through sock_diag or the tables.
	for _, noDiag := range []bool{false, true} {
		f := NewFinder()
		f.noDiag = noDiag
		if p, err := f.Conn(server, netip.AddrPortFrom(server.Addr(), 1)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("lookup of an address pair with no connection (noDiag %v): %+v %v", noDiag, p, err)
		}
	}
}

// TestDiagAgreesWithTable finds one connection both ways.
func TestDiagAgreesWithTable(t *testing.T) {
	ln, c := loopback(t)
	f := NewFinder()
	client, server := addrPort(t, c.LocalAddr()), addrPort(t, ln.Addr())
	inode, uid, err := diagSocket(client, server)
	if errors.Is(err, errNoDiag) {
		t.Skipf("no sock_diag here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	tInode, tUID, err := f.socketTable(client, server)
	if err != nil {
		t.Fatal(err)
	}
	if inode != tInode || uid != tUID || uid != os.Getuid() {
		t.Fatalf("sock_diag says inode %d uid %d, the table inode %d uid %d", inode, uid, tInode, tUID)
	}
	// No such connection: the server's end asked for as a client's.
	if _, _, err := diagSocket(netip.AddrPortFrom(client.Addr(), 1), server); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sock_diag for no connection: %v", err)
	}
	// Both ways also without sock_diag.
	f.noDiag = true
	if p, err := f.Conn(client, server); err != nil || p.PID != os.Getpid() {
		t.Fatalf("from the tables: %+v %v", p, err)
	}
}

func TestConnGoneAfterClose(t *testing.T) {
	ln, c := loopback(t)
	f := NewFinder()
	now := time.Now()
	f.now = func() time.Time { return now }
	client, server := addrPort(t, c.LocalAddr()), addrPort(t, ln.Addr())
	if _, err := f.Conn(client, server); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Within recheckAfter the cached answer stands...
	if p, err := f.Conn(client, server); err != nil || p.PID != os.Getpid() {
		t.Fatalf("cached lookup: %+v %v", p, err)
	}
	// ...then it is checked against the process's open files.
	now = now.Add(recheckAfter)
	p, err := f.Conn(client, server)
	if !errors.Is(err, ErrNotFound) || p.PID != 0 {
		t.Fatalf("closed connection: %+v %v", p, err)
	}
}

func TestConnFindsChild(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	cmd := exec.Command(selfExe(t), "-test.run=^TestHelperClient$")
	cmd.Env = append(os.Environ(), helperAddrEnv+"="+ln.Addr().String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	client, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q", line)
	}
	p, err := NewFinder().Conn(client, addrPort(t, ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != cmd.Process.Pid || p.Exe != selfExe(t) || p.PPID != os.Getpid() {
		t.Fatalf("found %+v, want pid %d (child of %d) exe %s", p, cmd.Process.Pid, os.Getpid(), selfExe(t))
	}
}

// TestConnFindsV4MappedSocket covers clients that use an IPv6 socket to
// reach 127.0.0.1 (the JVM does): their socket is listed in tcp6.
func TestConnFindsV4MappedSocket(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			// Hold the connection until the client closes it.
			c.Read(make([]byte, 1))
		}
	}()
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no IPv6 sockets here: %v", err)
	}
	defer syscall.Close(fd)
	server := addrPort(t, ln.Addr())
	sa := &syscall.SockaddrInet6{Port: int(server.Port()), Addr: netip.AddrFrom16(server.Addr().As16()).As16()}
	if err := syscall.Connect(fd, sa); err != nil {
		t.Skipf("cannot reach 127.0.0.1 through an IPv6 socket here: %v", err)
	}
	local, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	l6 := local.(*syscall.SockaddrInet6)
	// The daemon sees the client as 127.0.0.1:PORT.
	client := netip.AddrPortFrom(netip.AddrFrom16(l6.Addr).Unmap(), uint16(l6.Port))
	p, err := NewFinder().Conn(client, server)
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() {
		t.Fatalf("found %+v, want pid %d", p, os.Getpid())
	}
}

func TestProcess(t *testing.T) {
	p, err := NewFinder().Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() || p.Exe != selfExe(t) || p.PPID != os.Getppid() || p.UID != os.Geteuid() {
		t.Fatalf("Process: %+v", p)
	}
	if _, err := NewFinder().Process(0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Process(0): %v", err)
	}
}

// fakeProc builds a /proc tree: a socket table and processes with fds.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T, tcp string) *fakeProc {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "net", "tcp"), []byte(tcp), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fakeProc{t: t, root: root}
}

func (p *fakeProc) process(pid, ppid int, exe string, fds map[string]string) {
	dir := filepath.Join(p.root, fmt.Sprint(pid))
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		p.t.Fatal(err)
	}
	for fd, target := range fds {
		if err := os.Symlink(target, filepath.Join(dir, "fd", fd)); err != nil {
			p.t.Fatal(err)
		}
	}
	if err := os.Symlink(exe, filepath.Join(dir, "exe")); err != nil {
		p.t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (a (tricky) name) S %d 1 1 0 -1\n", pid, ppid)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// A table as Linux prints it on a little-endian machine: the daemon listens
// on 127.0.0.1:8080 (1F90); a client on port 40000 (9C40) is connected, an
// older one on port 40001 is in TIME_WAIT (inode 0).
const fakeTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 11111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 22222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 33333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:9C41 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`

func TestFakeTable(t *testing.T) {
	if encode4([4]byte{127, 0, 0, 1}, 8080) != "0100007F:1F90" {
		t.Skip("the fake table is written for little-endian machines")
	}
	p := newFakeProc(t, fakeTCP)
	p.process(10, 1, "/usr/bin/daemon", map[string]string{"3": "socket:[11111]", "4": "socket:[22222]"})
	p.process(20, 7, "/usr/bin/other", map[string]string{"0": "/dev/null", "5": "socket:[44444]"})
	p.process(30, 9, "/usr/bin/python3", map[string]string{"0": "/dev/null", "7": "socket:[33333]"})
	f := &Finder{root: p.root, now: time.Now, noDiag: true, cache: map[connKey]found{}}
	server := netip.MustParseAddrPort("127.0.0.1:8080")
	got, err := f.Conn(netip.MustParseAddrPort("127.0.0.1:40000"), server)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Process{PID: 30, UID: 1001, Exe: "/usr/bin/python3", PPID: 9}); got != want {
		t.Fatalf("found %+v, want %+v", got, want)
	}
	// A socket in TIME_WAIT is held by nobody.
	if _, err := f.Conn(netip.MustParseAddrPort("127.0.0.1:40001"), server); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TIME_WAIT socket: %v", err)
	}
	// A socket nobody readable holds: the uid is still reported.
	p2 := newFakeProc(t, fakeTCP)
	f2 := &Finder{root: p2.root, now: time.Now, noDiag: true, cache: map[connKey]found{}}
	got, err = f2.Conn(netip.MustParseAddrPort("127.0.0.1:40000"), server)
	if !errors.Is(err, ErrNotFound) || got.UID != 1001 || got.PID != 0 {
		t.Fatalf("unheld socket: %+v %v", got, err)
	}
}

func TestParseTableLongLine(t *testing.T) {
	table := "header\n" + strings.Repeat("x", 200<<10) + "\n" +
		"   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 33333 1\n"
	inode, uid, err := parseTable(strings.NewReader(table), "0100007F:9C40", "0100007F:1F90")
	if err != nil || inode != 33333 || uid != 1001 {
		t.Fatalf("parseTable: %d %d %v", inode, uid, err)
	}
	if _, _, err := parseTable(strings.NewReader("no newline at the end"), "0100007F:9C40", "0100007F:1F90"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("parseTable: %v", err)
	}
}

func TestParsePPID(t *testing.T) {
	for in, want := range map[string]int{
		"42 (bash) S 7 42 42 0":    7,
		"42 (a) b) (c) R 99 1 1 0": 99,
		"garbage":                  0,
		"42 (x)":                   0,
	} {
		if got := parsePPID([]byte(in)); got != want {
			t.Errorf("parsePPID(%q) = %d, want %d", in, got, want)
		}
	}
}
