// Command s3upload streams MIB mebibytes of pseudo-random bytes to NAME on
// an s3:// target with target.WriteFileFrom, then prints one JSON line:
// the bytes sent, the seconds taken, and the process's peak RSS (VmHWM).
// The S3 memory test runs it in a process of its own, built without
// -race, so that the RSS is the upload's alone.
//
//	s3upload 's3://bucket/prefix?endpoint=http://127.0.0.1:7070' NAME MIB
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/target"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: s3upload S3URL NAME MIB")
		os.Exit(2)
	}
	mib, err := strconv.Atoi(os.Args[3])
	if err != nil || mib < 0 {
		fmt.Fprintln(os.Stderr, "s3upload: MIB must be a whole number of mebibytes")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tgt, err := target.Open(ctx, os.Args[1], target.Options{Create: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3upload:", err)
		os.Exit(1)
	}
	defer tgt.Close()
	start := time.Now()
	src := struct{ io.Reader }{io.LimitReader(rand.NewChaCha8([32]byte{3}), int64(mib)<<20)}
	n, err := target.WriteFileFrom(tgt.FS(), "/"+os.Args[2], src, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3upload:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"bytes": n, "seconds": time.Since(start).Seconds(), "peak_rss": peakRSS()})
}

// peakRSS is VmHWM of /proc/self/status in bytes, 0 where there is none.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
