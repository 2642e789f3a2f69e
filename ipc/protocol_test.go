package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// countingReader serves an endless stream of 'x' after its prefix and
// counts what was read.
type countingReader struct {
	prefix []byte
	n      int
}

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		if r.n+i < len(r.prefix) {
			p[i] = r.prefix[r.n+i]
		} else {
			p[i] = 'x'
		}
	}
	r.n += len(p)
	return len(p), nil
}

func TestDecodeRequestOversizedReadsOnlyHeader(t *testing.T) {
	for _, n := range []uint32{MaxMessageSize + 1, 1<<32 - 1} {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], n)
		r := &countingReader{prefix: hdr[:]}

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeRequest(r)
		runtime.ReadMemStats(&after)

		var e *Error
		if !errors.As(err, &e) || e.Code != CodeTooLarge {
			t.Fatalf("length %d: err = %v, want a too_large *Error", n, err)
		}
		if r.n != 4 {
			t.Errorf("length %d: read %d bytes, want only the 4-byte header", n, r.n)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Errorf("length %d: allocated %d bytes for a refused frame", n, grew)
		}
	}
}

func TestDecodeRequestEndOfStream(t *testing.T) {
	if _, err := DecodeRequest(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty stream: err = %v, want io.EOF", err)
	}
	for _, b := range [][]byte{{0}, {0, 0, 0, 5}, {0, 0, 0, 5, '{'}} {
		if _, err := DecodeRequest(bytes.NewReader(b)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("truncated frame %v: err = %v, want io.ErrUnexpectedEOF", b, err)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	req := &Request{V: ProtocolVersion, ID: 42, Op: "unlock", Body: json.RawMessage(`{"code":"123456"}`)}
	if err := EncodeRequest(&buf, req); err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(buf.Bytes()[4:], '\n') >= 0 {
		t.Error("encoded frame contains a newline")
	}
	got, err := DecodeRequest(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.V != req.V || got.ID != req.ID || got.Op != req.Op || string(got.Body) != string(req.Body) {
		t.Fatalf("decoded %+v, want %+v", got, req)
	}

	resp := &Response{V: ProtocolVersion, ID: 42, Error: &Error{Code: "x", Message: "do y"}}
	if err := EncodeResponse(&buf, resp); err != nil {
		t.Fatal(err)
	}
	gotResp, err := DecodeResponse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if gotResp.ID != 42 || gotResp.Error == nil || gotResp.Error.Error() != "do y" || gotResp.Error.Code != "x" {
		t.Fatalf("decoded %+v", gotResp)
	}

	// Large but legal frames are read in full, across several chunks.
	big := &Request{V: ProtocolVersion, ID: 1, Op: "echo", Body: json.RawMessage(`"` + strings.Repeat("y", MaxMessageSize-100) + `"`)}
	if err := EncodeRequest(&buf, big); err != nil {
		t.Fatal(err)
	}
	got, err = DecodeRequest(&buf)
	if err != nil || len(got.Body) != len(big.Body) {
		t.Fatalf("large frame: %v, body %d bytes", err, len(got.Body))
	}
}

func TestEncodeRefusesOversized(t *testing.T) {
	var buf bytes.Buffer
	req := &Request{V: 1, ID: 1, Op: "x", Body: json.RawMessage(`"` + strings.Repeat("z", MaxMessageSize) + `"`)}
	if err := EncodeRequest(&buf, req); err == nil {
		t.Fatal("EncodeRequest accepted an oversized request")
	}
	if buf.Len() != 0 {
		t.Errorf("EncodeRequest wrote %d bytes of an oversized request", buf.Len())
	}
}
