// Command admin-server is a runnable example of embedding atocore-backup's
// admin API: it serves /admin/backup (create, list, validate) and /health.
//
//	ATOCORE_ADMIN_TOKEN=... admin-server --root /srv/storage/atocore [--listen 127.0.0.1:8100]
//	admin-server --token-file /etc/atocore-backup/admin-token --root /srv/storage/atocore
//
// It binds to loopback by default, requires "Authorization: Bearer <token>"
// (the token from ATOCORE_ADMIN_TOKEN or --token-file) on /admin/* and
// /metrics, refuses to start without a token unless told to run without
// authorization on a loopback address (then it answers only requests
// addressed to a loopback name, see admin.LoopbackOnly), applies read,
// write and idle timeouts (admin.NewServer), and shuts down gracefully on
// SIGTERM or Ctrl-C.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/backup/admin"
)

// buildSHA may be set at link time: -ldflags "-X main.buildSHA=$(git rev-parse HEAD)".
var buildSHA string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("admin-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8100", "address to listen on")
	root := fs.String("root", getenv("ATOCORE_ROOT"), "AtoCore root (ATOCORE_ROOT)")
	dbPath := fs.String("db-path", getenv("ATOCORE_DB_PATH"), "database (ATOCORE_DB_PATH)")
	registryPath := fs.String("registry-path", getenv("ATOCORE_REGISTRY_PATH"), "project registry (ATOCORE_REGISTRY_PATH)")
	chromaPath := fs.String("chroma-path", getenv("ATOCORE_CHROMA_PATH"), "Chroma directory (ATOCORE_CHROMA_PATH)")
	backupDir := fs.String("backup-dir", getenv("ATOCORE_BACKUP_DIR"), "backup directory (ATOCORE_BACKUP_DIR)")
	ingestLock := fs.String("ingestion-lock", "", "file lock that ingestion also takes; held while Chroma is copied")
	noAuth := fs.Bool("insecure-no-auth", false, "serve /admin/* without authorization (loopback addresses only)")
	tokenFile := fs.String("token-file", "", "file holding the bearer token on one line, mode 0600 or 0640 (instead of ATOCORE_ADMIN_TOKEN)")
	readHeaderTimeout := fs.Duration("read-header-timeout", admin.DefaultReadHeaderTimeout, "time allowed to read a request header")
	readTimeout := fs.Duration("read-timeout", admin.DefaultReadTimeout, "time allowed to read a whole request")
	writeTimeout := fs.Duration("write-timeout", admin.DefaultWriteTimeout, "time allowed to answer a request, the backup a POST runs included")
	idleTimeout := fs.Duration("idle-timeout", admin.DefaultIdleTimeout, "time a kept-alive connection may wait for its next request")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "admin-server: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() != 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	cfg, err := backup.Config{Logger: logger, Paths: backup.Paths{Root: *root, DBPath: *dbPath,
		RegistryPath: *registryPath, ChromaPath: *chromaPath, BackupDir: *backupDir}}.Resolved()
	if err != nil {
		return fail("%v", err)
	}
	token := getenv("ATOCORE_ADMIN_TOKEN")
	if *tokenFile != "" {
		if token != "" {
			return fail("both ATOCORE_ADMIN_TOKEN and --token-file are set; use only one")
		}
		if token, err = admin.ReadTokenFile(*tokenFile); err != nil {
			return fail("%v", err)
		}
	}
	var authorize func(*http.Request) error
	switch {
	case token != "" && *noAuth:
		return fail("--insecure-no-auth and a token (ATOCORE_ADMIN_TOKEN or --token-file) contradict each other; drop one")
	case token != "":
		authorize = admin.BearerToken(token)
	case *noAuth && admin.IsLoopbackHost(*listen):
		logger.Warn("serving /admin/* WITHOUT authorization on a loopback address", "listen", *listen)
	case *noAuth:
		return fail("--insecure-no-auth is only allowed on a loopback address, not %s; set ATOCORE_ADMIN_TOKEN or --token-file", *listen)
	default:
		return fail("ATOCORE_ADMIN_TOKEN is not set; set it or pass --token-file (clients send Authorization: Bearer <token>), or pass --insecure-no-auth on a loopback address")
	}
	var locker backup.Locker
	if *ingestLock != "" {
		locker = &backup.FileLocker{Path: *ingestLock}
	}

	mux := http.NewServeMux()
	api := admin.NewHandler(admin.Config{Backup: cfg, IngestionLock: locker, Authorize: authorize, Logger: logger})
	mux.Handle("/admin/", api)
	mux.Handle("/metrics", api)
	mux.HandleFunc("GET /health", health)
	var served http.Handler = mux
	if authorize == nil {
		served = admin.LoopbackOnly(mux)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail("listen on %s: %v", *listen, err)
	}
	srv := admin.NewServer(served, admin.ServerConfig{ReadHeaderTimeout: *readHeaderTimeout, ReadTimeout: *readTimeout,
		WriteTimeout: *writeTimeout, IdleTimeout: *idleTimeout, Logger: logger})
	logger.Info("listening", "addr", ln.Addr().String(), "backup_dir", cfg.BackupDir)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fail("serve: %v", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: waiting for requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("serve", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

// health reports the tool and build, so that an operator can tell which
// build runs (build_sha comes from ATOCORE_BUILD_SHA, the link-time value,
// or the VCS revision Go stamped into the binary).
func health(w http.ResponseWriter, r *http.Request) {
	info := map[string]any{"status": "ok", "tool_version": backup.Version, "go_version": runtime.Version(), "build_sha": currentBuildSHA()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.time":
				info["vcs_time"] = s.Value
			case "vcs.modified":
				info["vcs_modified"] = s.Value == "true"
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}

func currentBuildSHA() string {
	if s := os.Getenv("ATOCORE_BUILD_SHA"); s != "" {
		return s
	}
	if buildSHA != "" {
		return buildSHA
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "unknown"
}
