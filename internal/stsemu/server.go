package stsemu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is an Emulator served over HTTP on a loopback port.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:PORT, to use as
	// the STS endpoint (BaseEndpoint, AWS_ENDPOINT_URL_STS, --endpoint-url).
	URL string
	*Emulator

	srv       *http.Server
	done      chan error
	closeOnce sync.Once
	closeErr  error
}

// Start creates an emulator and serves it on 127.0.0.1 on a free port until
// Close is called.
func Start(opts Options) (*Server, error) {
	e := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stsemu: listen: %w", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		Emulator: e,
		srv: &http.Server{
			Handler:           e,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server immediately, closing open connections, and waits
// for it to exit. Later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		cerr := s.srv.Close()
		serr := <-s.done
		if errors.Is(serr, http.ErrServerClosed) {
			serr = nil
		}
		if err := errors.Join(cerr, serr); err != nil {
			s.closeErr = fmt.Errorf("stsemu: close: %w", err)
		}
	})
	return s.closeErr
}
