package admin

import (
	"bytes"
	"net/http"

	"github.com/prometheus/common/expfmt"

	"github.com/atocore/atocore-backup/internal/metrics"
)

// metricsContentType is the Prometheus text format, version 0.0.4.
var metricsContentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// serveMetrics answers GET /metrics: the backup directory's metrics, read
// at each scrape, and the results of the creates and validations this
// handler ran. It sits behind Authorize like the rest of the API (it
// tells an attacker when backups fail); Prometheus sends the token with
// authorization.credentials_file. A directory that cannot be read is a
// 500 JSON error, so that the scrape fails and `up` says so.
func (h *handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	families, err := h.registry.Gather()
	if err != nil {
		h.log.Error("metrics: gather", "err", err)
		writeError(w, http.StatusInternalServerError, ErrCodeInternal, err.Error())
		return
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			h.log.Error("metrics: encode", "family", mf.GetName(), "err", err)
			writeError(w, http.StatusInternalServerError, ErrCodeInternal, "cannot encode the metrics")
			return
		}
	}
	w.Header().Set("Content-Type", metricsContentType)
	_, _ = w.Write(buf.Bytes())
}

// newRegistry wires the handler's results into a metrics registry over its backup directory.
func newRegistry(h *handler) {
	h.results = &metrics.Results{}
	h.registry = metrics.NewRegistry(h.cfg.Backup, h.results)
}
