package target

import (
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/target/sshdtest"
)

// Against OpenSSH, uploads get sessions of their own with large writes;
// the bytes arrive whole (the conformance suites check every byte, here
// and against pkg/sftp's server, which keeps the default write size).
func TestOpenSSHUploadSessions(t *testing.T) {
	srv := sshdtest.Start(t)
	tg, err := DialSFTP(t.Context(), SFTPConfig{Addr: srv.Addr, User: srv.User, Path: filepath.Join(srv.Dir, "up"),
		KnownHostsFile: srv.KnownHostsFile, KeyFile: srv.KeyFile, SSHConfigFile: NoSSHConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	st := tg.(*sftpTarget)
	if len(st.conn.uploads) != uploadSessions || cap(st.fs.writers) != uploadSessions {
		t.Fatalf("upload sessions = %d, writers = %d; want %d", len(st.conn.uploads), cap(st.fs.writers), uploadSessions)
	}
	if !largeWrites(st.conn.ssh, st.conn.sftp) {
		t.Fatalf("OpenSSH %s: large writes not recognised", st.conn.ssh.ServerVersion())
	}
}
