package admin

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of ServerConfig. A POST /admin/backup answers when the backup
// and its validation are done, so WriteTimeout must exceed the longest
// backup (a large Chroma directory on a slow disk); the others bound what
// an unauthenticated client can hold.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = time.Hour
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 16 << 10
)

// ServerConfig holds the limits of the server NewServer builds. A zero
// field takes its Default value; none of them can be switched off, since
// a server without them keeps connections of any local user open for ever.
type ServerConfig struct {
	// ReadHeaderTimeout bounds the time to read a request's header.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's header to
	// the end of its response, the backup a POST runs included.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header.
	MaxHeaderBytes int
	// Logger receives the server's own errors (bad TLS, panics); nil is silence.
	Logger *slog.Logger
}

// NewServer returns an http.Server for h with the read, write and idle
// timeouts of cfg. The caller sets Addr or calls Serve with its listener:
//
//	srv := admin.NewServer(mux, admin.ServerConfig{})
//	err := srv.Serve(ln)
func NewServer(h http.Handler, cfg ServerConfig) *http.Server {
	def := func(d, v time.Duration) time.Duration {
		if d <= 0 {
			return v
		}
		return d
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: def(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       def(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      def(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       def(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
	}
	if srv.MaxHeaderBytes <= 0 {
		srv.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)
	}
	return srv
}
