package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
)

// TextfileMode is the mode of the textfile: node_exporter runs as another
// user and must read it; it holds no secret.
const TextfileMode = 0o644

// maxTextfileBytes bounds the existing file WriteTextfile reads back.
const maxTextfileBytes = 4 << 20

// lockTimeout bounds the wait for another run writing the same file.
const lockTimeout = 30 * time.Second

// WriteTextfile writes the metrics of cfg's backup directory and of res
// to path, in the text format node_exporter's textfile collector reads
// (name it *.prom in the collector's directory).
//
// Everything derived from disk is rewritten; the last-result metrics
// (create, validation, push per target) that res does not hold are kept
// from the file being replaced, so that each cron command records its own
// outcome without erasing the others'. Runs that write the same file
// concurrently take turns (flock on path + ".lock", waited for at most
// 30 s). The file is replaced atomically: a temporary file in the same
// directory (a name node_exporter ignores), synced, chmod 0644 whatever
// the umask, renamed over path, and the directory synced. An existing
// file that is not in the text format is refused, not overwritten.
func WriteTextfile(ctx context.Context, path string, cfg backup.Config, res *Results) error {
	if path == "" {
		return errors.New("metrics file: no path given")
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("metrics file %s: directory %s does not exist; create it (node_exporter's --collector.textfile.directory)", path, dir)
	}
	lock := flock.New(path+".lock", flock.SetPermissions(TextfileMode))
	lctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	ok, err := lock.TryLockContext(lctx, 50*time.Millisecond)
	if err != nil || !ok {
		return fmt.Errorf("metrics file %s: another run holds %s.lock: %v", path, path, err)
	}
	defer lock.Unlock()

	fresh, err := NewRegistry(cfg, res).Gather()
	if err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	old, err := readTextfile(path)
	if err != nil {
		return err
	}
	merged := mergeResults(dropEmptyLabels(fresh), old)
	var buf bytes.Buffer
	for _, mf := range merged {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			return fmt.Errorf("metrics file %s: encode %s: %w", path, mf.GetName(), err)
		}
	}
	return writeAtomic(path, buf.Bytes())
}

// readTextfile parses the file path holds now; a missing file is empty.
func readTextfile(path string) (map[string]*dto.MetricFamily, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metrics file %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > maxTextfileBytes {
		return nil, fmt.Errorf("metrics file %s is not a regular file of at most %d bytes; remove it or choose another --metrics-file", path, maxTextfileBytes)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("metrics file %s is not in the Prometheus text format (%v); remove it or choose another --metrics-file", path, oneLine(err))
	}
	return families, nil
}

// mergeResults adds to fresh the last-result metrics of old whose family
// and labels fresh lacks. Families come out sorted by name.
func mergeResults(fresh []*dto.MetricFamily, old map[string]*dto.MetricFamily) []*dto.MetricFamily {
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range fresh {
		byName[mf.GetName()] = mf
	}
	for name, omf := range old {
		if !resultFamilies[name] || omf.GetType() != dto.MetricType_GAUGE {
			continue
		}
		mf := byName[name]
		if mf == nil {
			mf = &dto.MetricFamily{Name: omf.Name, Help: omf.Help, Type: omf.Type}
			byName[name] = mf
		}
		have := map[string]bool{}
		for _, m := range mf.Metric {
			have[identity(m)] = true
		}
		for _, m := range omf.Metric {
			if !have[identity(m)] {
				m.TimestampMs = nil
				mf.Metric = append(mf.Metric, m)
			}
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(labelKey(a), labelKey(b)) })
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		out = append(out, mf)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// dropEmptyLabels removes the labels whose value is empty (target_name of
// a push to a URL): to Prometheus an empty label is no label, and the line
// stays as it was before the label existed.
func dropEmptyLabels(mfs []*dto.MetricFamily) []*dto.MetricFamily {
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			m.Label = slices.DeleteFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetValue() == "" })
		}
	}
	return mfs
}

// identity is what makes two result lines the same series for the merge:
// the target of a push line (a line written before target_name existed,
// or under another name, is replaced by this run's line for that target),
// else all the labels.
func identity(m *dto.Metric) string {
	for _, l := range m.Label {
		if l.GetName() == LabelTarget {
			return "target\x00" + l.GetValue()
		}
	}
	return labelKey(m)
}

func labelKey(m *dto.Metric) string {
	pairs := make([]string, 0, len(m.Label))
	for _, l := range m.Label {
		pairs = append(pairs, l.GetName()+"\x00"+l.GetValue())
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\x01")
}

// writeAtomic replaces path with data, mode TextfileMode.
func writeAtomic(path string, data []byte) error {
	tmp := durable.TempName(path, "tmp") // ".<name>.tmp-<hex>": not *.prom, node_exporter skips it
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(TextfileMode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	return durable.SyncDir(afero.NewOsFs(), filepath.Dir(path))
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
