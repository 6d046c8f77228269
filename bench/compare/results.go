package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// resultsFormat is the version of results.json's layout.
// Format 2 added the shapes (measurement.shape, rootInfo.shape,
// config.shapes) and CPU %; format 1 files are read as the random shape.
const resultsFormat = 2

// results is the content of results.json: enough to redraw the report
// (-plot-only) and to audit every number in it.
type results struct {
	Format       int           `json:"format"`
	Command      []string      `json:"command"`
	StartedUTC   string        `json:"started_utc"`
	FinishedUTC  string        `json:"finished_utc"`
	Interrupted  bool          `json:"interrupted,omitempty"`
	Config       resultsConfig `json:"config"`
	Machine      machine       `json:"machine"`
	Tools        []toolInfo    `json:"tools"`
	Roots        []rootInfo    `json:"roots"`
	Measurements []measurement `json:"measurements"`
	Notes        []string      `json:"notes"`
}

// resultsConfig is the configuration the measurements were taken with.
type resultsConfig struct {
	SizesMiB       []int    `json:"sizes_mib"` // database and Chroma, each
	Shapes         []string `json:"shapes"`    // dataset shapes, each reported separately
	Segments       int      `json:"segments"`  // of the random shape
	Runs           []int    `json:"runs"`      // per size
	Tools          []string `json:"tools"`     // those that ran, ours first
	Ops            []op     `json:"ops"`
	TimeoutSeconds float64  `json:"timeout_seconds"`
	WorkDir        string   `json:"work_dir"`
	OursBinary     string   `json:"ours_binary,omitempty"` // -ours; "" when built from the module
}

// toolInfo is one executable the comparison looked for.
type toolInfo struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	Missing string `json:"missing,omitempty"` // how to install it
}

// measurement is one timed command.
type measurement struct {
	Shape    string `json:"shape"`
	SizeMiB  int    `json:"size_mib"`
	Run      int    `json:"run"`      // 1-based
	Position int    `json:"position"` // 1-based place among the tools of this operation in this run
	Tool     string `json:"tool"`
	Op       op     `json:"op"`
	Command  string `json:"command,omitempty"`
	Started  string `json:"started_utc"`

	WallSeconds float64 `json:"wall_s"`
	UserSeconds float64 `json:"user_s"`
	SysSeconds  float64 `json:"sys_s"`
	// CPUPercent is (user + sys) ÷ wall × 100: 100 is one core busy the
	// whole time, and the machine has 100 × machine.cores.
	CPUPercent float64 `json:"cpu_percent"`
	MaxRSSKiB  int64   `json:"max_rss_kib"`
	// DiskGrowthBytes is the growth of the destination's disk usage
	// (st_blocks, hardlinked inodes once): the report's bytes written.
	DiskGrowthBytes int64 `json:"disk_growth_bytes"`
	// IOWriteBytes is the client processes' write accounting from
	// rusage (ru_oublock × 512): page-cache writes they caused,
	// server-side processes excluded.
	IOWriteBytes int64 `json:"io_write_bytes"`

	// Network operations only: bytes through the proxy, and the CPU time
	// of sshd's descendants (sftp-server, rsync, borg serve).
	SentBytes         int64   `json:"sent_bytes,omitempty"`
	ReceivedBytes     int64   `json:"received_bytes,omitempty"`
	ServerCPUSeconds  float64 `json:"server_cpu_s,omitempty"`
	ReportedSentBytes int64   `json:"reported_sent_bytes,omitempty"` // ours' own bytes_sent

	// S3 operations only: the HTTP requests through the proxy.
	Requests *requestCounts `json:"requests,omitempty"`
	// Incremental S3 pushes: what the change step changed between the
	// two snapshots pushed (the same for every tool of the run).
	Changed *changeInfo `json:"changed,omitempty"`

	Error string `json:"error,omitempty"`
}

// cpuSeconds is user plus system time of the client processes.
func (m measurement) cpuSeconds() float64 { return m.UserSeconds + m.SysSeconds }

// cpuPercent is cpu seconds over wall seconds, in percent of one core; 0
// when no time passed.
func cpuPercent(cpu, wall float64) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu / wall
}

// ok reports whether the command succeeded.
func (m measurement) ok() bool { return m.Error == "" }

// writeResults writes res as OUT/results.json, atomically.
func writeResults(dir string, res *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "results.json"), append(b, '\n'))
}

// readResults reads OUT/results.json.
func readResults(dir string) (*results, error) {
	path := filepath.Join(dir, "results.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w; run without -plot-only first, or point -out at the directory that holds results.json", err)
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if res.Format != resultsFormat && res.Format != 1 {
		return nil, fmt.Errorf("%s has format %d, this program reads %d: run the comparison again", path, res.Format, resultsFormat)
	}
	upgradeResults(&res)
	return &res, nil
}

// upgradeResults fills in what format 1 lacked: every root and
// measurement was of the random shape, and CPU % follows from the times.
func upgradeResults(res *results) {
	if len(res.Config.Shapes) == 0 {
		res.Config.Shapes = []string{"random"}
	}
	for i := range res.Roots {
		if res.Roots[i].Shape == "" {
			res.Roots[i].Shape = "random"
		}
	}
	for i := range res.Measurements {
		m := &res.Measurements[i]
		if m.Shape == "" {
			m.Shape = "random"
		}
		if m.CPUPercent == 0 && m.ok() {
			m.CPUPercent = cpuPercent(m.cpuSeconds(), m.WallSeconds)
		}
	}
	res.Format = resultsFormat
}

// writeFileAtomic writes b to path through a temporary file and a rename,
// so that an interrupted run never leaves half a report.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
