// Package admin is the admin HTTP API of atocore-backup, as an
// http.Handler the AtoCore server mounts:
//
//	POST /admin/backup                    {"include_chroma": bool, "kind": "manual"|"scheduled"} -> 200 snapshot metadata, 409 while another backup runs
//	GET  /admin/backup                    -> 200 {"backup_dir", "backups": [...]} (as the CLI's list)
//	GET  /admin/backup/{stamp}/validate   -> 200 validation result, 400 malformed stamp, 404 unknown stamp, 429 while another validation runs
//	GET  /metrics                         -> Prometheus metrics of the backup directory and of this handler's results
//
// Restore is deliberately not offered over HTTP: it needs the service
// stopped. Errors are JSON {"error": CODE, "detail": TEXT}, with no
// absolute path in TEXT (the log has the whole error).
//
// A POST must carry Content-Type: application/json (415 otherwise), so
// that a web page cannot send one without a CORS preflight. The handler
// leaves to its server what belongs to a server: NewServer sets the
// timeouts, LoopbackOnly guards a server that runs without authorization,
// ReadTokenFile reads the bearer token.
//
//	h := admin.NewHandler(admin.Config{
//		Backup:        backup.Config{Paths: backup.Paths{Root: "/srv/storage/atocore"}},
//		IngestionLock: server.IngestionLock, // held while Chroma is copied
//		Authorize:     admin.BearerToken(os.Getenv("ATOCORE_ADMIN_TOKEN")),
//	})
//	mux.Handle("/admin/", h)
//	mux.Handle("/metrics", h)
package admin

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
)

// DefaultMaxBodyBytes bounds a request body: the API's bodies are tiny.
const DefaultMaxBodyBytes = 4 << 10

// Config configures the handler. Backup is required; the zero values of
// the rest mean no ingestion lock, no authorization (the embedding server
// authorizes), silence and DefaultMaxBodyBytes.
type Config struct {
	Backup backup.Config
	// IngestionLock is held while the Chroma directory is copied.
	IngestionLock backup.Locker
	// Authorize decides whether a request may proceed; a non-nil error
	// answers 401 with the error's text as detail.
	Authorize func(r *http.Request) error
	Logger    *slog.Logger
	// MaxBodyBytes bounds request bodies (413 beyond).
	MaxBodyBytes int64
}

type handler struct {
	cfg    Config
	mux    *http.ServeMux
	log    *slog.Logger
	create sync.Mutex // one backup at a time in this process; the directory lock covers other processes
	// validating holds a token while a validation runs: it reads and
	// hashes a whole snapshot, so one at a time (429 beyond).
	validating chan struct{}
	// beforeValidate, set by tests, runs inside the validation slot.
	beforeValidate func()
	// results and registry back /metrics.
	results  *metrics.Results
	registry *prometheus.Registry
}

// NewHandler returns the admin API handler.
func NewHandler(cfg Config) http.Handler {
	h := &handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, validating: make(chan struct{}, 1)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.cfg.MaxBodyBytes <= 0 {
		h.cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	newRegistry(h)
	h.mux.HandleFunc("POST /admin/backup", h.postBackup)
	h.mux.HandleFunc("GET /admin/backup", h.list)
	h.mux.HandleFunc("GET /admin/backup/{stamp}/validate", h.validate)
	h.mux.HandleFunc("GET /metrics", h.serveMetrics)
	h.mux.HandleFunc("/metrics", h.notAllowed)
	h.mux.HandleFunc("/admin/backup", h.notAllowed)
	h.mux.HandleFunc("/admin/backup/{stamp}/validate", h.notAllowed)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, ErrCodeNotFound, "no such admin endpoint: "+r.URL.Path)
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Authorize != nil {
		if err := h.cfg.Authorize(r); err != nil {
			h.log.Warn("admin request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="atocore-admin"`)
			writeError(w, http.StatusUnauthorized, ErrCodeUnauthorized, err.Error())
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func (h *handler) notAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, ErrCodeNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
}
