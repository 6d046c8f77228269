package admin

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/validate"
)

// BackupRequest is the body of POST /admin/backup.
type BackupRequest struct {
	IncludeChroma bool   `json:"include_chroma"`
	Kind          string `json:"kind"`
}

func (h *handler) postBackup(w http.ResponseWriter, r *http.Request) {
	if err := requireJSON(r); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, ErrCodeUnsupportedMediaType, err.Error())
		return
	}
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
	if !errors.Is(err, backup.ErrBusy) { // busy: another process's create, which ran none here
		h.results.RecordCreate(time.Now(), err == nil)
	}
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

// requireJSON refuses a request whose Content-Type is not
// application/json (parameters such as charset allowed). A browser sends
// application/json across origins only after a CORS preflight, which this
// API never grants: the check is what keeps a web page from creating
// backups on a server that runs without authorization.
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	media, _, err := mime.ParseMediaType(ct)
	if err != nil || media != "application/json" {
		return errors.New("Content-Type must be application/json, not " + quoteOrNone(ct))
	}
	return nil
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	if len(s) > 80 {
		s = s[:80]
	}
	b, _ := json.Marshal(s)
	return string(b)
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
// {"include_chroma": bool, "kind": "manual"|"scheduled"}. The other kinds
// are refused: pre-restore snapshots are restore's (retention must keep
// them for 7 days, so a client could pin disk space with them) and drill
// snapshots the drill's. It is exported for fuzzing.
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
	if req.Kind != backup.KindManual && req.Kind != backup.KindScheduled {
		return req, errors.New("kind must be manual or scheduled over HTTP; pre-restore and drill snapshots are made by restore and drill")
	}
	return req, nil
}
