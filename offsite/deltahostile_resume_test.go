package offsite

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
)

type failingSigner struct {
	ssh.Signer
	fail bool
}

func (s *failingSigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	if s.fail {
		return nil, errors.New("signing cut off")
	}
	return s.Signer.Sign(r, data)
}

// A push that sent the database as a delta and then failed (here at its
// statement) leaves the delta in its incoming directory; the next push,
// which sends the file whole (deltas turned off, or the local base pruned
// meanwhile), must still succeed.
func TestRetriedPushThatGoesWhole(t *testing.T) {
	fx := newDeltaFixture(t)
	fx.next(t, 0)
	if _, err := sample.ChangeRows(context.Background(), fx.r.DBPath, 0.01, 1); err != nil {
		t.Fatal(err)
	}
	createAt(t, fx.r, time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC))
	fs := &failingSigner{Signer: fx.push.Signer, fail: true}
	opts := fx.push
	opts.Signer = fs
	if _, err := pushRemote(context.Background(), testutil.Config(fx.r), fx.remote, opts); err == nil {
		t.Fatal("the cut-off push succeeded")
	}
	fs.fail = false
	opts.DeltaChain = -1
	if _, err := pushRemote(context.Background(), testutil.Config(fx.r), fx.remote, opts); err != nil {
		t.Fatalf("push again, whole: %v", err)
	}
}
