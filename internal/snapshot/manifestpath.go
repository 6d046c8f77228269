package snapshot

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// ManifestFormatVersion is the version of manifest.json this code writes.
// Version 2 added path_b64: an entry whose path is not valid UTF-8 (a
// legitimate Linux file name, which a JSON string cannot hold) carries the
// path's raw bytes in base64 instead of "path". Version 1 manifests, which
// never have path_b64, are read as before.
const ManifestFormatVersion = 2

// fileFields is File without its methods, so that encoding it does not
// recurse into File's MarshalJSON.
type fileFields File

// fileJSON is a File as manifest.json stores it. Its own Path hides the
// embedded one; exactly one of Path and PathB64 is set.
type fileJSON struct {
	Path    string `json:"path,omitempty"`
	PathB64 string `json:"path_b64,omitempty"`
	fileFields
}

// MarshalJSON stores Path as "path" when it is valid UTF-8, and otherwise
// its bytes as "path_b64": encoding/json would replace each invalid byte
// with U+FFFD, naming a file that does not exist.
func (f File) MarshalJSON() ([]byte, error) {
	w := fileJSON{fileFields: fileFields(f)}
	if utf8.ValidString(f.Path) {
		w.Path = f.Path
	} else {
		w.PathB64 = base64.StdEncoding.EncodeToString([]byte(f.Path))
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads an entry written by MarshalJSON (or by a version 1
// manifest): Path holds the file name's exact bytes either way.
func (f *File) UnmarshalJSON(data []byte) error {
	var w fileJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*f = File(w.fileFields)
	f.Path = w.Path
	if w.PathB64 != "" {
		if w.Path != "" {
			return errors.New("entry has both path and path_b64")
		}
		b, err := base64.StdEncoding.DecodeString(w.PathB64)
		if err != nil {
			return errors.New("entry's path_b64 is not base64")
		}
		f.Path = string(b)
	}
	return nil
}
