package durable

import (
	"os"

	"github.com/spf13/afero"
)

// AppendLine appends line and a newline to name (created 0600), after a
// newline when the file does not end with one, and fsyncs it: a line of a JSON-lines log survives a crash
// that tore the line before it.
func AppendLine(fsys afero.Fs, name string, line []byte) error {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
