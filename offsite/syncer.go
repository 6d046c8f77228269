package offsite

// The syncer: uploaded files are made durable on the target in batches,
// beside the uploads, and journaled once they are.

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/target"
)

// syncOpen syncs f; a target that cannot sync is not an error.
func syncOpen(f afero.File) error {
	if err := f.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// syncFile opens name on the target and syncs it. On object storage an
// object is stored for good when its upload completes: there is nothing
// to sync, and opening it would cost a request.
func syncFile(rfs afero.Fs, name string) error {
	if target.IsObjectStore(rfs) {
		return nil
	}
	f, err := rfs.Open(name)
	if err != nil {
		return err
	}
	err = syncOpen(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncer finishes the uploads on a goroutine of its own: it syncs each
// uploaded file, renames it into place and notes it, in the order the
// uploads ended, and saves the journal once for all the files that were
// waiting together. An fsync waits for the target's disk; done here, it
// no longer holds up the upload stream that wrote the file (on SFTP it
// runs on the main session, not on the upload's).
type syncer struct {
	rfs  afero.Fs
	save func() error // writes the journal
	jobs chan syncJob
	done chan struct{}
	once sync.Once

	mu  sync.Mutex
	err error // the first failure
}

type syncJob struct {
	part, dst string
	then      func() // after the rename: note the file for the journal
}

// syncBatch caps how many files one journal write covers.
const syncBatch = 64

func startSyncer(rfs afero.Fs, capacity int, save func() error) *syncer {
	s := &syncer{rfs: rfs, save: save, jobs: make(chan syncJob, max(capacity, 1)), done: make(chan struct{})}
	go s.run()
	return s
}

// submit queues part for syncing and renaming to dst, then for then. It
// returns the syncer's first failure, if any, instead: the upload stream
// then stops.
func (s *syncer) submit(part, dst string, then func()) error {
	if err := s.failed(); err != nil {
		return err
	}
	s.jobs <- syncJob{part: part, dst: dst, then: then}
	return nil
}

func (s *syncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *syncer) run() {
	defer close(s.done)
	for j := range s.jobs {
		batch := s.waiting(j)
		if s.failed() != nil {
			continue // the push is failing: leave the rest for the next run
		}
		// The files put in place are saved to the journal even when a
		// later one fails: the next push resumes from them.
		var err error
		placed := 0
		for _, j := range batch {
			if err = syncFile(s.rfs, j.part); err == nil && j.part != j.dst {
				err = renameReplace(s.rfs, j.part, j.dst)
			}
			if err != nil {
				err = fmt.Errorf("upload %s: %w", filepath.Base(j.dst), err)
				break
			}
			j.then()
			placed++
		}
		if placed > 0 {
			if serr := s.save(); err == nil {
				err = serr
			}
		}
		if err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
		}
	}
}

// waiting returns first and the jobs queued behind it, up to syncBatch.
func (s *syncer) waiting(first syncJob) []syncJob {
	batch := []syncJob{first}
	for len(batch) < syncBatch {
		select {
		case next, ok := <-s.jobs:
			if !ok {
				return batch
			}
			batch = append(batch, next)
		default:
			return batch
		}
	}
	return batch
}

// stop waits for the queued files and returns the first failure. Call it
// once no upload is running; later calls only return the failure.
func (s *syncer) stop() error {
	s.once.Do(func() { close(s.jobs) })
	<-s.done
	return s.failed()
}

func syncRemoteDir(rfs afero.Fs, dir string) error {
	if ds, ok := rfs.(interface{ SyncDir(string) error }); ok {
		return ds.SyncDir(dir)
	}
	return durable.SyncDir(rfs, dir)
}
