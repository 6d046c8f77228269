package target

import (
	"strings"
	"testing"
)

// A secret in a query or fragment never reaches an error message.
func TestURLErrorHidesQuery(t *testing.T) {
	for _, raw := range []string{"sftp://u@h/p?password=hunter2", "file:///x#hunter2", "sftp://u:hunter2@h/p?x=hunter2"} {
		_, err := ParseURL(raw)
		if err == nil {
			t.Fatalf("%q accepted", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error echoes the secret: %v", err)
		}
	}
}
