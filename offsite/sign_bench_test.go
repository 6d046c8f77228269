package offsite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/sshsig"
)

// BenchmarkStatementSignAndVerify is the cost signatures add to one
// pushed snapshot of files files, and to one read of it: encode and sign
// the statement, then read and verify it back. Compare it with the push
// of the snapshot itself (docs/performance.md):
//
//	go test ./offsite -run '^$' -bench StatementSignAndVerify
func BenchmarkStatementSignAndVerify(b *testing.B) {
	key, trust := signer(b)
	for _, files := range []int{120, 10000} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			st := &Statement{Format: StatementFormat, Stamp: "20260501T060000Z", Sequence: 7, Previous: digestOf([]byte("x")), ManifestSHA256: digestOf([]byte("m"))}
			for i := range files {
				st.Files = append(st.Files, StoredFile{Path: fmt.Sprintf("chroma/segment-%04d/data_level0.bin.age", i), Size: int64(i) << 20, SHA256: digestOf([]byte{byte(i)})})
			}
			fsys := afero.NewMemMapFs()
			dir := "/t/snapshots/" + st.Stamp
			for b.Loop() {
				data, err := st.encode()
				if err != nil {
					b.Fatal(err)
				}
				sig, err := sshsig.Sign(key, SignatureNamespace, data)
				if err != nil {
					b.Fatal(err)
				}
				_ = afero.WriteFile(fsys, filepath.Join(dir, StatementFile), data, 0o600)
				_ = afero.WriteFile(fsys, filepath.Join(dir, SignatureFile), sig, 0o600)
				if s := readSigned(fsys, dir, st.Stamp, trust.Signers); s.status != SignatureVerified {
					b.Fatal(s.label())
				}
			}
		})
	}
}
