// Package admin is the admin HTTP API of atocore-backup, as an
// http.Handler the AtoCore server mounts:
//
//	POST /admin/backup                    {"include_chroma": bool} -> 200 snapshot metadata, 409 while another backup runs
//	GET  /admin/backup                    -> 200 {"backup_dir", "backups": [...]} (as the CLI's list)
//	GET  /admin/backup/{stamp}/validate   -> 200 validation result, 400 malformed stamp, 404 unknown stamp
//
// Restore is deliberately not offered over HTTP: it needs the service
// stopped. Errors are JSON {"error": CODE, "detail": TEXT}.
//
//	h := admin.NewHandler(admin.Config{
//		Backup:        backup.Config{Paths: backup.Paths{Root: "/srv/storage/atocore"}},
//		IngestionLock: server.IngestionLock, // held while Chroma is copied
//		Authorize:     admin.BearerToken(os.Getenv("ATOCORE_ADMIN_TOKEN")),
//	})
//	mux.Handle("/admin/", h)
package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/validate"
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

// Error codes of the JSON error body.
const (
	ErrCodeUnauthorized  = "unauthorized"
	ErrCodeBadRequest    = "bad_request"
	ErrCodeBadStamp      = "malformed_stamp"
	ErrCodeNotFound      = "not_found"
	ErrCodeBusy          = "busy"
	ErrCodeTooLarge      = "body_too_large"
	ErrCodeBackupFailed  = "backup_failed"
	ErrCodeInvalid       = "validation_failed"
	ErrCodeInternal      = "internal_error"
	ErrCodeNotAllowed    = "method_not_allowed"
	ErrCodeMissingConfig = "misconfigured"
)

// BearerToken returns an Authorize hook that requires the header
// "Authorization: Bearer <token>", compared in constant time. An empty
// token refuses every request, so a missing setting never opens the API.
func BearerToken(token string) func(*http.Request) error {
	return func(r *http.Request) error {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return errors.New("a valid Authorization: Bearer token is required")
		}
		return nil
	}
}

type handler struct {
	cfg    Config
	mux    *http.ServeMux
	log    *slog.Logger
	create sync.Mutex // one backup at a time in this process; the directory lock covers other processes
}

// NewHandler returns the admin API handler.
func NewHandler(cfg Config) http.Handler {
	h := &handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.cfg.MaxBodyBytes <= 0 {
		h.cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h.mux.HandleFunc("POST /admin/backup", h.postBackup)
	h.mux.HandleFunc("GET /admin/backup", h.list)
	h.mux.HandleFunc("GET /admin/backup/{stamp}/validate", h.validate)
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

// BackupRequest is the body of POST /admin/backup.
type BackupRequest struct {
	IncludeChroma bool   `json:"include_chroma"`
	Kind          string `json:"kind"`
}

func (h *handler) postBackup(w http.ResponseWriter, r *http.Request) {
	req, status, err := decodeBackupRequest(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		code := ErrCodeBadRequest
		if status == http.StatusRequestEntityTooLarge {
			code = ErrCodeTooLarge
		}
		writeError(w, status, code, err.Error())
		return
	}
	if !h.create.TryLock() {
		writeError(w, http.StatusConflict, ErrCodeBusy, "another backup is running; retry when it finishes")
		return
	}
	defer h.create.Unlock()
	meta, err := backup.Create(r.Context(), h.cfg.Backup, backup.CreateOptions{
		Kind: req.Kind, IncludeChroma: req.IncludeChroma, IngestionLock: h.cfg.IngestionLock})
	var ve *validate.Error
	switch {
	case errors.Is(err, backup.ErrBusy):
		writeError(w, http.StatusConflict, ErrCodeBusy, err.Error())
	case errors.As(err, &ve):
		h.log.Error("backup failed validation", "err", err)
		writeError(w, http.StatusInternalServerError, ErrCodeInvalid, err.Error())
	case err != nil:
		h.log.Error("backup failed", "err", err)
		writeError(w, http.StatusInternalServerError, ErrCodeBackupFailed, err.Error())
	default:
		h.log.Info("backup created", "stamp", meta.Stamp, "chroma", meta.IncludeChroma)
		writeJSON(w, http.StatusOK, meta)
	}
}

// decodeBackupRequest reads the optional JSON body: size-limited (413),
// unknown fields and trailing data refused (400). An empty body means {}.
func decodeBackupRequest(w http.ResponseWriter, r *http.Request, limit int64) (BackupRequest, int, error) {
	var req BackupRequest
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, http.StatusRequestEntityTooLarge, errors.New("request body is larger than the limit")
		}
		return req, http.StatusBadRequest, err
	}
	if req, err = DecodeBackupRequest(data); err != nil {
		return req, http.StatusBadRequest, err
	}
	return req, 0, nil
}

// DecodeBackupRequest parses the body of POST /admin/backup: {} or
// {"include_chroma": bool, "kind": "manual"|"scheduled"|...}. It is
// exported for fuzzing.
func DecodeBackupRequest(data []byte) (BackupRequest, error) {
	var req BackupRequest
	if strings.TrimSpace(string(data)) == "" {
		data = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, errors.New("body must be a JSON object with only include_chroma and kind: " + err.Error())
	}
	if dec.More() {
		return req, errors.New("body has data after the JSON object")
	}
	if req.Kind == "" {
		req.Kind = backup.KindManual
	}
	if !snapshot.ValidKind(req.Kind) {
		return req, errors.New("kind must be manual, scheduled, pre-restore or drill")
	}
	return req, nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	cfg, err := h.cfg.Backup.Resolved()
	if err != nil {
		writeError(w, http.StatusInternalServerError, ErrCodeMissingConfig, err.Error())
		return
	}
	snaps, err := backup.List(r.Context(), cfg)
	if err != nil {
		writeError(w, http.StatusInternalServerError, ErrCodeInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup_dir": cfg.BackupDir, "backups": snaps})
}

func (h *handler) validate(w http.ResponseWriter, r *http.Request) {
	stamp := r.PathValue("stamp")
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		writeError(w, http.StatusBadRequest, ErrCodeBadStamp, err.Error())
		return
	}
	cfg, err := h.cfg.Backup.Resolved()
	if err != nil {
		writeError(w, http.StatusInternalServerError, ErrCodeMissingConfig, err.Error())
		return
	}
	if _, err := cfg.FS.Stat(snapshot.Dir(cfg.BackupDir, stamp)); err != nil {
		writeError(w, http.StatusNotFound, ErrCodeNotFound, "no snapshot "+stamp)
		return
	}
	res, err := validate.Snapshot(r.Context(), cfg.FS, cfg.BackupDir, stamp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, ErrCodeInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, map[string]string{"error": code, "detail": detail})
}
