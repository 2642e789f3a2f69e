package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzDecodeRequest feeds arbitrary bytes to the request decoder: it must
// never panic, never consume more than one frame, and never accept a frame
// over MaxMessageSize; whatever it accepts must survive re-encoding.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(rawFrame([]byte(`{"v":1,"id":1,"op":"status"}`)))
	f.Add(rawFrame([]byte(`{"v":1,"id":2,"op":"unlock","body":{"profile":"prod","code":"123456"}}`)))
	f.Add([]byte{0x00, 0x10, 0x00, 0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, '{'})
	f.Add(rawFrame([]byte(`{"v":1,"id":1,"op":"x"`)))
	f.Add(rawFrame([]byte(`null`)))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		req, err := DecodeRequest(r)
		consumed := len(data) - r.Len()
		if len(data) >= 4 {
			n := binary.BigEndian.Uint32(data)
			if n > MaxMessageSize {
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeTooLarge {
					t.Fatalf("frame of %d bytes: err = %v, want too_large", n, err)
				}
				if consumed != 4 {
					t.Fatalf("oversized frame: consumed %d bytes, want 4", consumed)
				}
				return
			}
			if consumed > 4+int(n) {
				t.Fatalf("consumed %d bytes of a %d-byte frame", consumed, 4+n)
			}
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := EncodeRequest(&buf, req); err != nil {
			// Re-encoding may grow the body (escaping), past the limit.
			return
		}
		again, err := DecodeRequest(&buf)
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", req, err)
		}
		if again.V != req.V || again.ID != req.ID || again.Op != req.Op || !equalJSON(again.Body, req.Body) {
			t.Fatalf("round trip changed the request: %+v -> %+v", req, again)
		}
	})
}

// equalJSON reports whether a and b encode the same value; re-encoding may
// change escaping (for example of '&') and whitespace.
func equalJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	va, errA := decodeAny(a)
	vb, errB := decodeAny(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

func decodeAny(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}
