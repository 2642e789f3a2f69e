package audit

import (
	"net/netip"

	"github.com/c0950fac/mfad/internal/peerproc"
)

// Finder finds the processes behind connections and pids
// (*peerproc.Finder).
type Finder interface {
	Conn(client, server netip.AddrPort) (peerproc.Process, error)
	Process(pid int) (peerproc.Process, error)
}

// process is what the log says of a client process. The zero PID and a
// UID of -1 mean unknown.
type process struct {
	pid, ppid, uid int
	exe, parentExe string
	note           string
}

// unknownProcess is a client that was not looked up, for the reason note.
func unknownProcess(note string) process { return process{uid: -1, note: note} }

// lookupConn finds the process holding the client end of an endpoint
// connection, with its parent's executable.
func lookupConn(f Finder, client, server netip.AddrPort) process {
	if !client.IsValid() || !server.IsValid() {
		return unknownProcess("")
	}
	p, err := f.Conn(client, server)
	if err != nil {
		// The socket's owner may be known even when its process is not.
		return process{uid: p.UID}
	}
	return describe(f, p)
}

// lookupPID describes process pid, with its parent's executable.
func lookupPID(f Finder, pid int) process {
	p, err := f.Process(pid)
	p.PID = pid
	if err != nil {
		return process{pid: pid, uid: p.UID}
	}
	return describe(f, p)
}

func describe(f Finder, p peerproc.Process) process {
	out := process{pid: p.PID, ppid: p.PPID, uid: p.UID, exe: p.Exe}
	if p.PPID > 0 {
		if pp, err := f.Process(p.PPID); err == nil {
			out.parentExe = pp.Exe
		}
	}
	return out
}

// fill sets e's process fields from p, keeping those e already has.
func (p process) fill(e *Entry) {
	if e.PID == 0 {
		e.PID = p.pid
	}
	if e.UID == nil && p.uid >= 0 {
		uid := p.uid
		e.UID = &uid
	}
	if e.Exe == "" {
		e.Exe = p.exe
	}
	if e.PPID == 0 {
		e.PPID = p.ppid
	}
	if e.ParentExe == "" {
		e.ParentExe = p.parentExe
	}
	if e.Note == "" {
		e.Note = p.note
	}
}
