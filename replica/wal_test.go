package replica

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// walBytes builds a -wal of frames for pgnos (the last one a commit),
// with SQLite's checksums.
func walBytes(pageSize uint32, salt1, salt2 uint32, pgnos []uint32) []byte {
	h := make([]byte, walHeaderSize)
	binary.BigEndian.PutUint32(h, walMagicLE)
	binary.BigEndian.PutUint32(h[4:], walVersion)
	binary.BigEndian.PutUint32(h[8:], pageSize)
	binary.BigEndian.PutUint32(h[16:], salt1)
	binary.BigEndian.PutUint32(h[20:], salt2)
	sum := walSum{}.update(h[:24], false)
	binary.BigEndian.PutUint32(h[24:], sum.s1)
	binary.BigEndian.PutUint32(h[28:], sum.s2)
	out := h
	for i, p := range pgnos {
		fr := make([]byte, walFrameHeaderSize+int(pageSize))
		binary.BigEndian.PutUint32(fr, p)
		if i == len(pgnos)-1 {
			binary.BigEndian.PutUint32(fr[4:], 10)
		}
		binary.BigEndian.PutUint32(fr[8:], salt1)
		binary.BigEndian.PutUint32(fr[12:], salt2)
		for j := walFrameHeaderSize; j < len(fr); j++ {
			fr[j] = byte(p) + byte(j)
		}
		sum = sum.update(fr[:8], false).update(fr[walFrameHeaderSize:], false)
		binary.BigEndian.PutUint32(fr[16:], sum.s1)
		binary.BigEndian.PutUint32(fr[20:], sum.s2)
		out = append(out, fr...)
	}
	return out
}

func scanBytes(t testing.TB, b []byte) ([]walFrame, error) {
	p := filepath.Join(t.TempDir(), "x-wal")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := openWAL(p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	h, err := w.header()
	if err != nil {
		return nil, err
	}
	return w.scan(h, 0, h.sum, maxFrames)
}

func TestWALScan(t *testing.T) {
	b := walBytes(512, 7, 9, []uint32{1, 2, 3})
	frames, err := scanBytes(t, b)
	if err != nil || len(frames) != 3 || frames[2].commit != 10 || frames[1].pgno != 2 {
		t.Fatalf("frames %+v, %v", frames, err)
	}
	// A flipped byte in frame 2's page ends the valid frames at frame 1,
	// as SQLite's recovery would.
	bad := append([]byte(nil), b...)
	bad[walHeaderSize+walFrameHeaderSize+512+walFrameHeaderSize+5] ^= 1
	if frames, _ := scanBytes(t, bad); len(frames) != 1 {
		t.Fatalf("after a damaged frame 2: %d frames, want 1", len(frames))
	}
	// Other salts: a frame of another generation.
	other := append(append([]byte(nil), b[:walHeaderSize+walFrameHeaderSize+512]...), walBytes(512, 8, 9, []uint32{5})[walHeaderSize:]...)
	if frames, _ := scanBytes(t, other); len(frames) != 1 {
		t.Fatalf("a frame of another generation: %d frames, want 1", len(frames))
	}
	// A cut frame.
	if frames, _ := scanBytes(t, b[:len(b)-100]); len(frames) != 2 {
		t.Fatalf("a cut last frame: %d frames, want 2", len(frames))
	}
	// A header with a wrong checksum is no -wal.
	h := append([]byte(nil), b...)
	h[27] ^= 1
	if _, err := scanBytes(t, h); err != errNoWAL {
		t.Fatalf("bad header checksum: %v", err)
	}
}

// Whatever bytes a -wal holds, reading it ends without a panic.
func FuzzWALScan(f *testing.F) {
	f.Add(walBytes(512, 1, 2, []uint32{1, 2}))
	f.Add([]byte{})
	f.Add(walBytes(1024, 0, 0, []uint32{0xffffffff}))
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := scanBytes(t, b)
		if err != nil {
			return
		}
		for _, fr := range frames {
			if fr.pgno == 0 {
				t.Fatal("a frame of page 0 passed")
			}
		}
	})
}
