package admin_test

import (
	"net"
	"net/http"
	"os"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/backup/admin"
)

// An embedding server mounts the handler on /admin/ and /metrics and
// serves it with the package's timeouts and a token from a file.
func ExampleNewServer() {
	token, err := admin.ReadTokenFile("/etc/atocore-backup/admin-token")
	if err != nil {
		os.Exit(2) // the error names the file and the fix
	}
	h := admin.NewHandler(admin.Config{
		Backup:    backup.Config{Paths: backup.Paths{Root: "/srv/storage/atocore"}},
		Authorize: admin.BearerToken(token),
	})
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	mux.Handle("/metrics", h)
	ln, err := net.Listen("tcp", "127.0.0.1:8100")
	if err != nil {
		os.Exit(1)
	}
	_ = admin.NewServer(mux, admin.ServerConfig{}).Serve(ln)
}

// A server without authorization, on loopback only, answers only
// requests addressed to a loopback name.
func ExampleLoopbackOnly() {
	h := admin.NewHandler(admin.Config{Backup: backup.Config{Paths: backup.Paths{Root: "/srv/storage/atocore"}}})
	srv := admin.NewServer(admin.LoopbackOnly(h), admin.ServerConfig{})
	srv.Addr = "127.0.0.1:8100"
	_ = srv.ListenAndServe()
}
