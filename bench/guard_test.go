package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

// The regression guard: BenchmarkGuard times ours' create, validate and
// restore against what an operator would script with stock tools, on a
// root of each shape, in the same process and alternating, and reports
// ours ÷ plain as the metrics create-ratio, validate-ratio and
// restore-ratio. A ratio is stable across machines where raw seconds are
// not; bench/guard.sh compares two commits' ratios.
//
//	go test -run '^$' -bench Guard -benchtime 1x ./bench/
//
// The plain tools are those of bench/compare: sqlite3 .backup + cp -a +
// sync to create; sqlite3 integrity_check + sha256sum of every file to
// validate; cp -a + sync + integrity_check to restore.
const guardMiB = 64 // database and Chroma, each

// Scripts of the plain tools; $1... are arguments.
const (
	guardPlainCreate   = `sqlite3 "$1" ".backup '$2/atocore.db'" && cp -a "$3" "$4" "$2/" && sync`
	guardPlainValidate = `r=$(sqlite3 "$1/atocore.db" "PRAGMA integrity_check") && [ "$r" = ok ] || { echo "integrity_check: $r" >&2; exit 1; }
find "$1" -type f -exec sha256sum {} + >/dev/null`
	guardPlainRestore = `rm -rf "$2" && mkdir -p "$2" && cp -a "$1/atocore.db" "$1/project-registry.json" "$1/chroma" "$2/" && sync &&
r=$(sqlite3 "$2/atocore.db" "PRAGMA integrity_check") && [ "$r" = ok ] || { echo "integrity_check: $r" >&2; exit 1; }`
)

// guardRoot is one shape's root with a validated snapshot (ours) and a
// plain copy (the plain tools') to validate and restore.
type guardRoot struct {
	root  *sample.Root
	cfg   backup.Config
	stamp string
	plain string // the plain tools' copy: atocore.db, project-registry.json, chroma/
	dir   string // scratch space of this shape
}

var (
	guardMu    sync.Mutex
	guardRoots = map[string]*guardRoot{} // by shape and size
)

// requireSQLite3 checks for the sqlite3 shell, skipping without it unless
// ATOCORE_REQUIRE_TOOLS=1 (CI), where a missing tool fails.
func requireSQLite3(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
			tb.Fatalf("sqlite3 is not installed and ATOCORE_REQUIRE_TOOLS=1: install it (Debian: apt-get install sqlite3)")
		}
		tb.Skip("sqlite3 is not installed (Debian: apt-get install sqlite3)")
	}
}

// getGuardRoot generates the shape's root of mib MiB (each of database
// and Chroma) once per test process.
func getGuardRoot(tb testing.TB, shape sample.Shape, mib int64) *guardRoot {
	tb.Helper()
	guardMu.Lock()
	defer guardMu.Unlock()
	name := fmt.Sprintf("guard-%s-%d", shape, mib)
	if g := guardRoots[name]; g != nil {
		return g
	}
	ctx := context.Background()
	dir := filepath.Join(workDir, name)
	root, err := sample.Generate(ctx, filepath.Join(dir, "root"), sample.Options{
		Shape: shape, DBBytes: mib << 20, ChromaBytes: mib << 20, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	g := &guardRoot{root: root, cfg: backup.Config{Paths: backup.Paths{Root: root.Dir}}, dir: dir}
	meta, err := backup.Create(ctx, g.cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		tb.Fatal(err)
	}
	g.stamp = meta.Stamp
	g.plain = filepath.Join(dir, "plain")
	if err := os.MkdirAll(g.plain, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := g.sh(guardPlainCreate, root.DBPath, g.plain, root.RegistryPath, root.ChromaPath); err != nil {
		tb.Fatal(err)
	}
	// The first snapshot of a timed create must start after the
	// generated files' mtimes (ours copies files modified within the
	// second before a snapshot starts).
	time.Sleep(1100 * time.Millisecond)
	guardRoots[name] = g
	return g
}

// sh runs a plain-tools script with its arguments.
func (g *guardRoot) sh(script string, args ...string) error {
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("plain tools: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// guardOp is one operation timed both ways.
type guardOp struct {
	name          string
	ours, plain   func(i int) (scratch string, err error) // scratch is removed untimed
	oursT, plainT time.Duration                           // totals over the iterations
	ratios        []float64                               // ours ÷ plain of each iteration
}

// ratio is the median of the iterations' ratios: one slow iteration (the
// machine is shared) moves it less than it moves the totals.
func (o *guardOp) ratio() float64 {
	s := slices.Clone(o.ratios)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ops are the guard's three operations on g; iteration i writes into
// directories of its own, which the operation returns to be removed off the
// clock.
func (g *guardRoot) ops(ctx context.Context) []*guardOp {
	scratch := func(what string, i int) string { return filepath.Join(g.dir, fmt.Sprintf("%s-%d", what, i)) }
	return []*guardOp{
		{name: "create",
			ours: func(i int) (string, error) {
				cfg := g.cfg
				cfg.BackupDir = scratch("ours-create", i)
				meta, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
				if err == nil && !meta.Validated {
					err = fmt.Errorf("snapshot %s not validated: %v", meta.Stamp, meta.ValidationErrors)
				}
				return cfg.BackupDir, err
			},
			plain: func(i int) (string, error) {
				out := scratch("plain-create", i)
				if err := os.MkdirAll(out, 0o700); err != nil {
					return out, err
				}
				r := g.root
				return out, g.sh(guardPlainCreate, r.DBPath, out, r.RegistryPath, r.ChromaPath)
			}},
		{name: "validate",
			ours: func(int) (string, error) {
				cfg, err := g.cfg.Resolved()
				if err != nil {
					return "", err
				}
				res, err := validate.Snapshot(ctx, cfg.FS, cfg.BackupDir, g.stamp)
				if err == nil && !res.Valid {
					err = fmt.Errorf("snapshot %s invalid: %v", g.stamp, res.Errors)
				}
				return "", err
			},
			plain: func(int) (string, error) { return "", g.sh(guardPlainValidate, g.plain) }},
		{name: "restore",
			ours: func(int) (string, error) {
				res, err := restore.Run(ctx, g.cfg, g.stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true})
				if err == nil && (!res.RestoredIntegrityOK || !res.ChromaRestored) {
					err = fmt.Errorf("restore incomplete: %+v", res)
				}
				return "", err
			},
			plain: func(i int) (string, error) {
				out := scratch("plain-restore", i)
				return out, g.sh(guardPlainRestore, g.plain, out)
			}},
	}
}

// runGuard times every operation n times both ways, ours first on even
// iterations and the plain tools first on odd ones, so that drift on the
// machine hits both. Before each timed step, untimed: the previous step's
// output is removed and sync writes back every dirty page, so that no
// step pays for another's write-back (the plain tools' sync would).
func runGuard(ctx context.Context, g *guardRoot, n int) ([]*guardOp, error) {
	ops := g.ops(ctx)
	for i := range n {
		for _, o := range ops {
			var ours, plain time.Duration
			first, second := &ours, &plain
			f1, f2 := o.ours, o.plain
			if i%2 == 1 {
				first, second, f1, f2 = second, first, f2, f1
			}
			for _, s := range []struct {
				d *time.Duration
				f func(int) (string, error)
			}{{first, f1}, {second, f2}} {
				syscall.Sync()
				start := time.Now()
				out, err := s.f(i)
				*s.d = time.Since(start)
				if out != "" {
					os.RemoveAll(out)
				}
				if err != nil {
					return nil, fmt.Errorf("%s: %w", o.name, err)
				}
			}
			o.oursT += ours
			o.plainT += plain
			o.ratios = append(o.ratios, ours.Seconds()/plain.Seconds())
		}
	}
	return ops, nil
}

// BenchmarkGuard reports, per shape, ours ÷ plain for create, validate and
// restore (create-ratio, validate-ratio, restore-ratio: the median of the
// iterations' ratios) and both sides' mean seconds per operation.
func BenchmarkGuard(b *testing.B) {
	requireSQLite3(b)
	for _, shape := range sample.Shapes {
		b.Run(string(shape), func(b *testing.B) {
			g := getGuardRoot(b, shape, guardMiB)
			b.ResetTimer()
			ops, err := runGuard(context.Background(), g, b.N)
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range ops {
				b.ReportMetric(o.ratio(), o.name+"-ratio")
				b.ReportMetric(o.oursT.Seconds()/float64(b.N), o.name+"-ours-s")
				b.ReportMetric(o.plainT.Seconds()/float64(b.N), o.name+"-plain-s")
			}
		})
	}
}

// TestGuardRuns runs the guard's operations once on a small root, so that
// `go test ./bench/` catches a guard that no longer runs (a plain script
// that fails, an operation that errs) without the cost of the benchmark.
func TestGuardRuns(t *testing.T) {
	requireSQLite3(t)
	g := getGuardRoot(t, sample.ShapeText, 2)
	ops, err := runGuard(context.Background(), g, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if o.oursT <= 0 || o.plainT <= 0 || len(o.ratios) != 2 || o.ratio() <= 0 {
			t.Errorf("%s: ours %s, plain %s, ratios %v; want both timed twice", o.name, o.oursT, o.plainT, o.ratios)
		}
	}
	// A failing plain step is an error, not a fast measurement.
	bad := &guardRoot{root: g.root, dir: g.dir, plain: filepath.Join(g.dir, "missing")}
	if err := bad.sh(guardPlainValidate, bad.plain); err == nil {
		t.Error("validating a missing plain copy succeeded")
	}
}

func TestGuardRatioIsMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{1, 9, 2}, 2}, {[]float64{4, 1, 2, 3}, 2.5}, {nil, 0}} {
		if got := (&guardOp{ratios: c.in}).ratio(); got != c.want {
			t.Errorf("ratio of %v = %v; want %v", c.in, got, c.want)
		}
	}
}
