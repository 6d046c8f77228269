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
	w.Path, w.PathB64 = EncodePath(f.Path)
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
	var err error
	f.Path, err = DecodePath(w.Path, w.PathB64)
	return err
}

// EncodePath splits a file name into the JSON fields "path" and
// "path_b64": the name itself when it is valid UTF-8, else its exact bytes
// in base64 (JSON strings cannot hold them). Manifests and off-site
// statements store names this way.
func EncodePath(name string) (path, pathB64 string) {
	if utf8.ValidString(name) {
		return name, ""
	}
	return "", base64.StdEncoding.EncodeToString([]byte(name))
}

// DecodePath is EncodePath's inverse; an entry with both fields, or bad
// base64, is an error.
func DecodePath(path, pathB64 string) (string, error) {
	if pathB64 == "" {
		return path, nil
	}
	if path != "" {
		return "", errors.New("entry has both path and path_b64")
	}
	b, err := base64.StdEncoding.DecodeString(pathB64)
	if err != nil {
		return "", errors.New("entry's path_b64 is not base64")
	}
	return string(b), nil
}
