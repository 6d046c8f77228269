package snapshot

import (
	"strings"
	"testing"
)

func TestDecodeManifestRefusesEscapingPaths(t *testing.T) {
	digest := strings.Repeat("a", 64)
	for _, p := range []string{"../x", "/etc/passwd", "a/../../b", "", ".", "a//b", "a/./b", "manifest.json", `a\..\b`} {
		data := `{"format_version":1,"files":[{"path":"` + strings.ReplaceAll(p, `\`, `\\`) + `","size":1,"sha256":"` + digest + `","mode":"0600"}]}`
		if _, err := DecodeManifest([]byte(data)); err == nil {
			t.Errorf("DecodeManifest accepted path %q", p)
		}
	}
	ok := `{"format_version":1,"files":[{"path":"chroma/x/header.bin","size":100,"sha256":"` + digest + `","mode":"0640"}]}`
	m, err := DecodeManifest([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Lookup("chroma/x/header.bin"); f.FileMode() != 0o640 {
		t.Fatalf("mode = %v", f.FileMode())
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := &Manifest{Files: []File{
		{Path: "db/atocore.db", Size: 3, SHA256: strings.Repeat("b", 64), Mode: "0600"},
		{Path: "backup-metadata.json", Size: 2, SHA256: strings.Repeat("c", 64), Mode: "0600"},
	}}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Algorithm != "sha256" || back.FormatVersion != ManifestFormatVersion || back.Files[0].Path != "backup-metadata.json" {
		t.Fatalf("round trip = %+v", back)
	}
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"format_version":1,"files":[{"path":"db/atocore.db","size":1,"sha256":"` + strings.Repeat("a", 64) + `","mode":"0600"}]}`))
	f.Add([]byte(`{"files":[{"path":"../x"}]}`))
	f.Add([]byte(`{"format_version":2,"files":[{"path_b64":"Y2hyb21hL//+LmJpbg==","size":1,"sha256":"` + strings.Repeat("a", 64) + `","mode":"0600"}]}`))
	f.Add([]byte(`{"format_version":2,"files":[{"path_b64":"Li4v/w==","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			return
		}
		for _, e := range m.Files {
			if !LocalPath(e.Path) || strings.ContainsRune(e.Path, 0) {
				t.Fatalf("accepted non-local path %q", e.Path)
			}
		}
		// What was accepted is written back with the same paths, exactly.
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("accepted manifest does not encode: %v", err)
		}
		back, err := DecodeManifest(enc)
		if err != nil || len(back.Files) != len(m.Files) {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
		for i := range m.Files {
			if back.Files[i].Path != m.Files[i].Path {
				t.Fatalf("path %q came back as %q", m.Files[i].Path, back.Files[i].Path)
			}
		}
	})
}

func FuzzDecodeMetadata(f *testing.F) {
	f.Add([]byte(`{"format_version":1,"stamp":"20260407T060000Z","registry_snapshot_path":null}`))
	f.Add([]byte(`{"created_at":"2026-04-07T06:00:00Z","include_chroma":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMetadata(data)
		if err != nil {
			return
		}
		if _, err := m.Encode(); err != nil {
			t.Fatalf("decoded metadata does not encode: %v", err)
		}
		_ = m.Time()
	})
}
