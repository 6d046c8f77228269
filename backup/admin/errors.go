package admin

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
)

// Error codes of the JSON error body.
const (
	ErrCodeUnauthorized         = "unauthorized"
	ErrCodeBadRequest           = "bad_request"
	ErrCodeBadStamp             = "malformed_stamp"
	ErrCodeNotFound             = "not_found"
	ErrCodeBusy                 = "busy"
	ErrCodeTooLarge             = "body_too_large"
	ErrCodeBackupFailed         = "backup_failed"
	ErrCodeInvalid              = "validation_failed"
	ErrCodeInternal             = "internal_error"
	ErrCodeNotAllowed           = "method_not_allowed"
	ErrCodeMissingConfig        = "misconfigured"
	ErrCodeUnsupportedMediaType = "unsupported_media_type"
	ErrCodeForbiddenHost        = "forbidden_host"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError answers {"error": code, "detail": detail}, with every
// absolute path in detail cut to its last element: a client learns what
// failed, not how the server's disks are laid out.
func writeError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, map[string]string{"error": code, "detail": redactPaths(detail)})
}

// absPath is an absolute path in an error text: a slash at the start or
// after a separator, up to the next space, quote, colon or bracket.
var absPath = regexp.MustCompile(`(^|[\s=("'\[,])(/[^\s"'():\[\],;]*)`)

// redactPaths replaces each absolute path in s with ".../" and its base name.
func redactPaths(s string) string {
	return absPath.ReplaceAllStringFunc(s, func(m string) string {
		sub := absPath.FindStringSubmatch(m)
		base := filepath.Base(sub[2])
		if base == "/" || base == "." {
			return sub[1] + "..."
		}
		return sub[1] + ".../" + base
	})
}
