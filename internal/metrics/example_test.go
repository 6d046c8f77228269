package metrics_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
)

// A cron create records its outcome and writes the textfile
// node_exporter reads.
func ExampleWriteTextfile() {
	dir, _ := os.MkdirTemp("", "metrics-example")
	defer os.RemoveAll(dir)
	cfg := backup.Config{Paths: backup.Paths{BackupDir: filepath.Join(dir, "backups")}}
	res := &metrics.Results{}
	res.RecordCreate(time.Unix(1_800_000_000, 0), true) // after backup.Create returned
	path := filepath.Join(dir, "atocore_backup.prom")
	if err := metrics.WriteTextfile(context.Background(), path, cfg, res); err != nil {
		fmt.Println(err)
		return
	}
	data, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "atocore_backup_last_create") || strings.HasPrefix(line, "atocore_backup_snapshots ") {
			fmt.Println(line)
		}
	}
	// Output:
	// atocore_backup_last_create_success 1
	// atocore_backup_last_create_timestamp_seconds 1.8e+09
	// atocore_backup_snapshots 0
}
