package admin

import (
	"net/http"

	"github.com/atocore/atocore-backup/backup"
)

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	cfg, err := h.cfg.Backup.Resolved()
	if err != nil {
		h.log.Error("list: configuration", "err", err)
		writeError(w, http.StatusInternalServerError, ErrCodeMissingConfig, err.Error())
		return
	}
	snaps, err := backup.List(r.Context(), cfg)
	if err != nil {
		h.log.Error("list failed", "err", err)
		writeError(w, http.StatusInternalServerError, ErrCodeInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup_dir": cfg.BackupDir, "backups": snaps})
}
