package snapshot

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// A file name that is not UTF-8 is a legitimate Linux file name; JSON
// strings cannot hold it, so the manifest carries its bytes in path_b64
// and gives them back exactly.
func TestManifestKeepsNonUTF8PathsExactly(t *testing.T) {
	odd := "chroma/seg/\xff\xfe.bin"
	m := &Manifest{Files: []File{
		{Path: odd, Size: 3, SHA256: strings.Repeat("b", 64), Mode: "0600"},
		{Path: "chroma/seg/ok é.bin", Size: 2, SHA256: strings.Repeat("c", 64), Mode: "0644"},
	}}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(data) {
		t.Fatal("manifest.json is not valid UTF-8")
	}
	var raw struct {
		FormatVersion int              `json:"format_version"`
		Files         []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.FormatVersion != ManifestFormatVersion {
		t.Errorf("format_version = %d, want %d", raw.FormatVersion, ManifestFormatVersion)
	}
	for _, f := range raw.Files {
		b64, hasB64 := f["path_b64"]
		_, hasPath := f["path"]
		switch {
		case hasB64 && (hasPath || b64 != base64.StdEncoding.EncodeToString([]byte(odd))):
			t.Errorf("entry %v: want path_b64 alone, holding the raw bytes", f)
		case !hasB64 && (!hasPath || f["path"] != "chroma/seg/ok é.bin"):
			t.Errorf("entry %v: a UTF-8 name is kept in path", f)
		}
	}
	back, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := back.Index()[odd]; !ok || f.Size != 3 || f.Mode != "0600" {
		t.Fatalf("decoded manifest lost %q: %+v", odd, back.Files)
	}
}

// Manifests written before path_b64 (format_version 1) still decode.
func TestOldManifestStillDecodes(t *testing.T) {
	digest := strings.Repeat("a", 64)
	old := `{"format_version": 1, "algorithm": "sha256", "files": [
  {"path": "db/atocore.db", "size": 5, "sha256": "` + digest + `", "mode": "0600", "source": {"size": 5, "mtime_ns": 1, "ctime_ns": 2, "ino": 3, "dev": 4}, "source_wal": {"size": -1, "mtime_ns": 0, "ctime_ns": 0, "ino": 0, "dev": 0}}]}`
	m, err := DecodeManifest([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := m.Lookup("db/atocore.db")
	if !ok || f.Size != 5 || f.Source == nil || f.Source.Inode != 3 || f.SourceWAL == nil || f.SourceWAL.Size != -1 || m.FormatVersion != 1 {
		t.Fatalf("old manifest decoded as %+v", m)
	}
}

// Paths read from disk, in either field, never leave the snapshot.
func TestDecodeManifestRefusesBadEncodedPaths(t *testing.T) {
	digest := strings.Repeat("a", 64)
	entry := func(fields string) string {
		return `{"format_version":2,"files":[{` + fields + `,"size":1,"sha256":"` + digest + `","mode":"0600"}]}`
	}
	b64 := func(s string) string { return `"path_b64":"` + base64.StdEncoding.EncodeToString([]byte(s)) + `"` }
	for name, data := range map[string]string{
		"NUL in path":       entry(`"path":"chroma/a\u0000b"`),
		"NUL in path_b64":   entry(b64("chroma/\xffa\x00b")),
		"absolute path_b64": entry(b64("/etc/\xff")),
		"dot-dot path_b64":  entry(b64("chroma/../../\xff")),
		"both fields":       entry(`"path":"chroma/a",` + b64("chroma/\xff")),
		"bad base64":        entry(`"path_b64":"!!!"`),
		"no path at all":    entry(`"mode":"0600"`),
		"newer format":      `{"format_version":99,"files":[]}`,
	} {
		if _, err := DecodeManifest([]byte(data)); err == nil {
			t.Errorf("%s: DecodeManifest accepted %s", name, data)
		}
	}
}
