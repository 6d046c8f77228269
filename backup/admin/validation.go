package admin

import (
	"net/http"
	"time"

	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/validate"
)

// validateRetryAfter is the Retry-After of a validation refused because
// another runs, in seconds.
const validateRetryAfter = "10"

func (h *handler) validate(w http.ResponseWriter, r *http.Request) {
	stamp := r.PathValue("stamp")
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		writeError(w, http.StatusBadRequest, ErrCodeBadStamp, err.Error())
		return
	}
	cfg, err := h.cfg.Backup.Resolved()
	if err != nil {
		h.log.Error("validate: configuration", "err", err)
		writeError(w, http.StatusInternalServerError, ErrCodeMissingConfig, err.Error())
		return
	}
	if _, err := cfg.FS.Stat(snapshot.Dir(cfg.BackupDir, stamp)); err != nil {
		writeError(w, http.StatusNotFound, ErrCodeNotFound, "no snapshot "+stamp)
		return
	}
	select {
	case h.validating <- struct{}{}:
		defer func() { <-h.validating }()
	default:
		w.Header().Set("Retry-After", validateRetryAfter)
		writeError(w, http.StatusTooManyRequests, ErrCodeBusy, "another validation is running; retry when it finishes")
		return
	}
	if h.beforeValidate != nil {
		h.beforeValidate()
	}
	res, err := validate.Snapshot(r.Context(), cfg.FS, cfg.BackupDir, stamp)
	h.results.RecordValidation(time.Now(), err == nil && res.Valid)
	if err != nil {
		h.log.Error("validate failed", "stamp", stamp, "err", err)
		writeError(w, http.StatusInternalServerError, ErrCodeInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}
