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

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/backup/admin"
	"github.com/atocore/atocore-backup/internal/cmdline"
)

// buildSHA may be set at link time: -ldflags "-X main.buildSHA=$(git rev-parse HEAD)".
var buildSHA string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run executes one command line (help, --version, man, completion, or the
// server) and returns its exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:   "atocore-admin-server",
		Short: "Serve atocore-backup's admin API (create, list, validate, /metrics) on loopback",
		Long: `atocore-admin-server is a runnable server embedding atocore-backup's admin API:
POST/GET /admin/backup, GET /admin/backup/{stamp}/validate, GET /metrics and
GET /health. It binds to loopback by default and requires
"Authorization: Bearer <token>" (the token from ATOCORE_ADMIN_TOKEN or
--token-file) on /admin/* and /metrics; without a token it starts only with
--insecure-no-auth on a loopback address, and then answers only requests
addressed to a loopback name. Restore is never offered over HTTP. It shuts
down gracefully on SIGTERM or Ctrl-C. Exit codes: 0 stopped cleanly, 1 failed,
2 bad flags or settings.`,
		Example: `  ATOCORE_ADMIN_TOKEN=... atocore-admin-server --root /srv/storage/atocore
  atocore-admin-server --token-file /etc/atocore-backup/admin-token --root /srv/storage/atocore --listen 127.0.0.1:8101`,
	}
	fs := root.Flags()
	listen := fs.String("listen", "127.0.0.1:8100", "address to listen on")
	root_ := fs.String("root", getenv("ATOCORE_ROOT"), "AtoCore root (ATOCORE_ROOT)")
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
	root.RunE = func(c *cobra.Command, args []string) error {
		return cmdline.Code(serve(c.Context(), settings{*listen, *root_, *dbPath, *registryPath, *chromaPath, *backupDir, *ingestLock,
			*noAuth, *tokenFile, *readHeaderTimeout, *readTimeout, *writeTimeout, *idleTimeout}, getenv, stderr))
	}
	root.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unknown command or argument %q; run atocore-admin-server --help", args[0])
		}
		return nil
	}
	cmdline.Setup(root, stdout, stderr)
	root.SetContext(ctx)
	return cmdline.Execute(root, args, stderr)
}

// settings are the server's flags.
type settings struct {
	listen, root, dbPath, registryPath, chromaPath, backupDir, ingestLock string
	noAuth                                                                bool
	tokenFile                                                             string
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout             time.Duration
}

// serve runs the server until ctx ends; it returns the exit code.
func serve(ctx context.Context, st settings, getenv func(string) string, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "atocore-admin-server: "+format+"\n", a...)
		return 2
	}
	cfg, err := backup.Config{Logger: logger, Paths: backup.Paths{Root: st.root, DBPath: st.dbPath,
		RegistryPath: st.registryPath, ChromaPath: st.chromaPath, BackupDir: st.backupDir}}.Resolved()
	if err != nil {
		return fail("%v", err)
	}
	token := getenv("ATOCORE_ADMIN_TOKEN")
	if st.tokenFile != "" {
		if token != "" {
			return fail("both ATOCORE_ADMIN_TOKEN and --token-file are set; use only one")
		}
		if token, err = admin.ReadTokenFile(st.tokenFile); err != nil {
			return fail("%v", err)
		}
	}
	var authorize func(*http.Request) error
	switch {
	case token != "" && st.noAuth:
		return fail("--insecure-no-auth and a token (ATOCORE_ADMIN_TOKEN or --token-file) contradict each other; drop one")
	case token != "":
		authorize = admin.BearerToken(token)
	case st.noAuth && admin.IsLoopbackHost(st.listen):
		logger.Warn("serving /admin/* WITHOUT authorization on a loopback address", "listen", st.listen)
	case st.noAuth:
		return fail("--insecure-no-auth is only allowed on a loopback address, not %s; set ATOCORE_ADMIN_TOKEN or --token-file", st.listen)
	default:
		return fail("ATOCORE_ADMIN_TOKEN is not set; set it or pass --token-file (clients send Authorization: Bearer <token>), or pass --insecure-no-auth on a loopback address")
	}
	var locker backup.Locker
	if st.ingestLock != "" {
		locker = &backup.FileLocker{Path: st.ingestLock}
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
	ln, err := net.Listen("tcp", st.listen)
	if err != nil {
		return fail("listen on %s: %v", st.listen, err)
	}
	srv := admin.NewServer(served, admin.ServerConfig{ReadHeaderTimeout: st.readHeaderTimeout, ReadTimeout: st.readTimeout,
		WriteTimeout: st.writeTimeout, IdleTimeout: st.idleTimeout, Logger: logger})
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
