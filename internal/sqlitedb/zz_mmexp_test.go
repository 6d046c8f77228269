package sqlitedb

import (
	"context"
	"net/url"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"modernc.org/sqlite/vfs"
)

func TestMMExp(t *testing.T) {
	path := os.Getenv("MMDB")
	if path == "" {
		t.Skip()
	}
	id, v, err := vfs.New(mappedFS{dir: filepath.Dir(path)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: filepath.Base(path)}).EscapedPath()+"?vfs="+id+"&mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t0 := time.Now()
	res, err := integrity(context.Background(), db)
	db.Close()
	var ru syscall.Rusage
	syscall.Getrusage(0, &ru)
	fmt.Printf("%+v %v wall=%.2f cpu=%.2f maxrss=%dMiB\n", res, err, time.Since(t0).Seconds(), float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9, ru.Maxrss/1024)
}
