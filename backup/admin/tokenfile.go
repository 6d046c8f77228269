package admin

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// maxTokenFileBytes bounds a token file: a token is a line, not a document.
const maxTokenFileBytes = 4 << 10

// ReadTokenFile reads a bearer token from path: one line, its trailing
// newline (LF or CRLF) trimmed. It refuses, with a one-line error naming
// the file and the fix, a file that is missing, not a regular file,
// empty, larger than 4 KiB, holds whitespace or more than one line, or
// grants any permission to other users (the token opens the admin API;
// a file other users can read is a leaked token, as ssh treats a private
// key). A group may read it, so that a service group can share it.
func ReadTokenFile(path string) (string, error) {
	// O_NONBLOCK: opening a FIFO planted at path must not block the server's start.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("token file %s does not exist; create it (mode 0600) with the token on one line", path)
		}
		return "", fmt.Errorf("token file %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file %s: %v", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file (%s); point the flag at the file that holds the token", path, st.Mode().Type())
	}
	if perm := st.Mode().Perm(); perm&0o007 != 0 {
		return "", fmt.Errorf("token file %s is accessible to other users (mode %04o); chmod 600 %s (or 640 to share it with a group)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("token file %s: %v", path, err)
	}
	if len(data) > maxTokenFileBytes {
		return "", fmt.Errorf("token file %s is larger than %d bytes; it must hold only the token", path, maxTokenFileBytes)
	}
	tok := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty; write the token on its first line", path)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fmt.Errorf("token file %s must hold the token on one line, without spaces or control characters", path)
	}
	return tok, nil
}
