package stsemu

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxBodyBytes bounds request bodies; STS requests are a few hundred bytes.
const maxBodyBytes = 1 << 20

// statusClientClosed is logged when the client goes away during injected
// latency.
const statusClientClosed = 499

// ServeHTTP serves one STS Query API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == FederationPath {
		e.serveFederation(w, r)
		return
	}
	reqID := requestID()
	call := Call{RequestID: reqID, AccessKeyID: credentialKeyID(r)}

	body, params, perr := readParams(w, r)
	call.Action = params.Get("Action")
	call.WithMFA = params.Get("SerialNumber") != "" && params.Get("TokenCode") != ""

	var (
		out  []byte
		aerr = perr
	)
	if aerr == nil {
		e.mu.Lock()
		latency, held := e.latency, e.held
		e.mu.Unlock()
		f, ok := e.takeFault(call.Action)
		if ok {
			latency += f.Latency
		}
		if !e.waitHeld(r.Context(), held) || latency > 0 && !waitLatency(r.Context(), latency) {
			call.Time = e.Now()
			call.Status = statusClientClosed
			e.record(r.Context(), call)
			return
		}
		if ok {
			aerr = f.apiError()
		}
	}
	now := e.Now()
	call.Time = now
	if aerr == nil {
		out, aerr = e.handle(r, body, params, reqID, now)
	}

	status := http.StatusOK
	if aerr != nil {
		status = aerr.status
		call.ErrorCode = aerr.code
		ns := ""
		if params.Get("Version") == iamAPIVersion {
			ns = iamNamespace
		}
		out = errorBody(aerr, reqID, ns)
	}
	call.Status = status
	hdr := w.Header()
	hdr.Set("Content-Type", "text/xml")
	hdr["x-amzn-RequestId"] = []string{reqID}
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	hdr.Set("Date", now.UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_, _ = w.Write(out)
	e.record(r.Context(), call)
}

// readParams reads the body and merges the query string with a
// form-encoded body.
func readParams(w http.ResponseWriter, r *http.Request) ([]byte, url.Values, *apiError) {
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, url.Values{}, newAPIError(http.StatusBadRequest, "MalformedQueryString", "Malformed query string: "+err.Error())
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, params, newAPIError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body is too large")
		}
		return nil, params, newAPIError(http.StatusBadRequest, "MalformedInput", "Could not read the request body")
	}
	if len(body) == 0 {
		return body, params, nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); ct != "" && (err != nil || mt != "application/x-www-form-urlencoded") {
		return body, params, newAPIError(http.StatusBadRequest, "InvalidParameterValue", "Unsupported Content-Type: "+ct)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return body, params, newAPIError(http.StatusBadRequest, "MalformedQueryString", "Malformed form body: "+err.Error())
	}
	for k, v := range form {
		params[k] = append(params[k], v...)
	}
	return body, params, nil
}

// waitHeld waits until held is closed (at once when it is nil); false when
// ctx ends first.
func (e *Emulator) waitHeld(ctx context.Context, held <-chan struct{}) bool {
	if held == nil {
		return true
	}
	e.waiting.Add(1)
	defer e.waiting.Add(-1)
	select {
	case <-held:
		return true
	case <-ctx.Done():
		return false
	}
}

func waitLatency(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (e *Emulator) takeFault(action string) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.faults {
		if f.Action != "" && f.Action != action {
			continue
		}
		f.remaining--
		if f.remaining <= 0 {
			e.faults = append(e.faults[:i], e.faults[i+1:]...)
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// apiError is the error a fault produces, nil for a latency-only fault.
func (f Fault) apiError() *apiError {
	if f.Status == 0 && f.Code == "" {
		return nil
	}
	status, code, msg := f.Status, f.Code, f.Message
	if code == "" {
		code = "Throttling"
		if status >= 500 {
			code = "InternalFailure"
		}
	}
	if status == 0 {
		switch code {
		case "InternalFailure":
			status = http.StatusInternalServerError
		case "ServiceUnavailable":
			status = http.StatusServiceUnavailable
		default:
			status = http.StatusBadRequest
		}
	}
	if msg == "" {
		switch code {
		case "Throttling":
			msg = msgRateExceeded
		case "ServiceUnavailable":
			msg = "Service is unable to handle request."
		case "InternalFailure":
			msg = "An internal error has occurred. Try your query again."
		default:
			msg = code
		}
	}
	return newAPIError(status, code, msg)
}

func (e *Emulator) record(ctx context.Context, c Call) {
	e.mu.Lock()
	e.calls = append(e.calls, c)
	e.mu.Unlock()
	level := slog.LevelDebug
	if c.ErrorCode != "" || c.Status != http.StatusOK {
		level = slog.LevelInfo
	}
	e.log.LogAttrs(ctx, level, "sts request",
		slog.String("request_id", c.RequestID),
		slog.String("action", c.Action),
		slog.String("access_key_id", c.AccessKeyID),
		slog.Bool("with_mfa", c.WithMFA),
		slog.Int("status", c.Status),
		slog.String("error_code", c.ErrorCode))
}

// handle authenticates and dispatches a request.
func (e *Emulator) handle(r *http.Request, body []byte, params url.Values, reqID string, now time.Time) ([]byte, *apiError) {
	action := params.Get("Action")
	if action == "" {
		return nil, newAPIError(http.StatusBadRequest, "MissingAction", "Missing Action")
	}
	version := params.Get("Version")
	if version == iamAPIVersion {
		return e.handleIAM(r, body, params, action, reqID, now)
	}
	switch {
	case version != apiVersion:
		return nil, newAPIError(http.StatusBadRequest, "InvalidAction",
			"Could not find operation "+action+" for version "+version)
	case action != "GetCallerIdentity" && action != "GetSessionToken" && action != "AssumeRole":
		return nil, newAPIError(http.StatusBadRequest, "InvalidAction",
			"Could not find operation "+action+" for version "+version)
	}

	p, aerr := e.authenticate(r, body, now, "sts")
	if aerr != nil {
		return nil, aerr
	}
	if action != "GetCallerIdentity" {
		if aerr := e.checkMFAPolicy(p, "sts:"+action, p.user.arn); aerr != nil {
			return nil, aerr
		}
	}
	switch action {
	case "GetCallerIdentity":
		return e.getCallerIdentity(p, reqID), nil
	case "GetSessionToken":
		return e.getSessionToken(p, params, reqID, now)
	default:
		return e.assumeRole(p, params, reqID, now)
	}
}
