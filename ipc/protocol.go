package ipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ProtocolVersion is the version of the request/response protocol spoken by
// this build. The daemon answers a request carrying any other version with
// an Error whose Code is CodeVersion.
const ProtocolVersion = 1

// MaxMessageSize is the largest frame body, in bytes, that either side
// accepts or sends.
const MaxMessageSize = 1 << 20

// frameHeaderSize is the size of the big-endian length prefix of a frame.
const frameHeaderSize = 4

// readChunk bounds how much of a frame body is allocated ahead of the bytes
// actually arriving, so that a peer announcing a large frame and then
// stalling does not make the reader hold MaxMessageSize bytes for it.
const readChunk = 64 << 10

// Request is one call from the CLI to the daemon.
type Request struct {
	// V is the ProtocolVersion the request was written for.
	V int `json:"v"`
	// ID identifies the request on its connection; the response repeats it.
	// Clients start at 1; 0 is reserved for connection-level errors.
	ID uint64 `json:"id"`
	// Op names the operation, for example "status".
	Op string `json:"op"`
	// Body holds the operation's JSON arguments, if any.
	Body json.RawMessage `json:"body,omitempty"`
}

// Response is the daemon's answer to one Request.
type Response struct {
	// V is the daemon's ProtocolVersion.
	V int `json:"v"`
	// ID repeats Request.ID, or is 0 for a connection-level error.
	ID uint64 `json:"id"`
	// Error is set when the request failed; Body is then normally empty.
	Error *Error `json:"error,omitempty"`
	// Body holds the operation's JSON result, if any.
	Body json.RawMessage `json:"body,omitempty"`
}

// DecodeRequest reads one frame from r and decodes it as a Request.
//
// It returns io.EOF, unwrapped, when r ends cleanly before a frame starts,
// and io.ErrUnexpectedEOF when it ends inside one. A frame that is too large
// or not a valid request yields an *Error (CodeTooLarge or CodeMalformed)
// suitable for sending back; in the too-large case nothing beyond the
// length prefix is read or allocated. The request's version is not checked.
func DecodeRequest(r io.Reader) (*Request, error) {
	return decodeRequest(r, nil)
}

// decodeRequest is DecodeRequest with a hook called once the first byte of
// a frame has arrived (see readFrame).
func decodeRequest(r io.Reader, started func()) (*Request, error) {
	body, err := readFrame(r, started)
	if err != nil {
		return nil, err
	}
	if err := checkObject(body); err != nil {
		return nil, err
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &Error{Code: CodeMalformed, Message: "the mfad daemon received a request it cannot decode (" + err.Error() + "): the CLI and daemon may be from different builds; restart the daemon (`mfad daemon`)"}
	}
	return &req, nil
}

// DecodeResponse reads one frame from r and decodes it as a Response. Errors
// are reported as for DecodeRequest.
func DecodeResponse(r io.Reader) (*Response, error) {
	body, err := readFrame(r, nil)
	if err != nil {
		return nil, err
	}
	if err := checkObject(body); err != nil {
		return nil, err
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, &Error{Code: CodeMalformed, Message: "the mfad CLI received a response it cannot decode (" + err.Error() + "): the CLI and daemon may be from different builds; restart the daemon (`mfad daemon`)"}
	}
	return &resp, nil
}

// EncodeRequest writes req to w as one frame. It fails without writing
// anything if the encoded request exceeds MaxMessageSize.
func EncodeRequest(w io.Writer, req *Request) error {
	return writeFrame(w, req)
}

// EncodeResponse writes resp to w as one frame. It fails without writing
// anything if the encoded response exceeds MaxMessageSize.
func EncodeResponse(w io.Writer, resp *Response) error {
	return writeFrame(w, resp)
}

// errFrameTooLarge is returned by writeFrame for an oversized message.
type errFrameTooLarge struct{ size int }

func (e errFrameTooLarge) Error() string {
	return fmt.Sprintf("message of %d bytes exceeds the %d-byte limit of the mfad protocol", e.size, MaxMessageSize)
}

func writeFrame(w io.Writer, v any) error {
	frame, err := encodeFrame(v)
	if err != nil {
		return err
	}
	// One write per frame keeps header and body together.
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("writing mfad message: %w", err)
	}
	return nil
}

// encodeFrame returns v as a complete frame: length prefix and JSON body.
func encodeFrame(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding mfad message: %w", err)
	}
	if len(body) > MaxMessageSize {
		return nil, errFrameTooLarge{size: len(body)}
	}
	frame := make([]byte, frameHeaderSize+len(body))
	binary.BigEndian.PutUint32(frame, uint32(len(body)))
	copy(frame[frameHeaderSize:], body)
	return frame, nil
}

// readFrame reads one frame body. started, if not nil, is called after the
// first byte of the frame has arrived and before the rest is read; the
// server uses it to switch from the idle deadline to the frame deadline.
func readFrame(r io.Reader, started func()) ([]byte, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return nil, err // io.EOF here is a clean end of stream
	}
	if started != nil {
		started()
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return nil, unexpectedEOF(err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxMessageSize {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("message of %d bytes exceeds the %d-byte limit of the mfad protocol", n, MaxMessageSize)}
	}
	if n == 0 {
		return nil, &Error{Code: CodeMalformed, Message: "empty message: the mfad CLI and daemon may be from different builds; restart the daemon (`mfad daemon`)"}
	}
	size := int(n)
	buf := make([]byte, min(size, readChunk))
	for got := 0; got < size; {
		if got == len(buf) {
			grown := make([]byte, min(size, 2*len(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// checkObject rejects frame bodies that are not a JSON object, such as
// "null", which encoding/json would otherwise accept as an empty message.
func checkObject(body []byte) error {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return &Error{Code: CodeMalformed, Message: "message is not a JSON object: the mfad CLI and daemon may be from different builds; restart the daemon (`mfad daemon`)"}
	}
	return nil
}
