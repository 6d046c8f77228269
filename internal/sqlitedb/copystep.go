package sqlitedb

// copyPoint names a moment of OnlineCopy, for tests that make something
// happen there (another process closing its last connection, say).
type copyPoint int

// The moments of OnlineCopy, in order.
const (
	atBegun      copyPoint = iota // the read transaction holds its lock or read mark
	atMainCopied                  // the database file is copied
	atWALCopied                   // the -wal is copied (or found absent)
)

// copyHook, when set (by tests only), is called at each copyPoint.
var copyHook func(copyPoint)

func reach(s copyPoint) {
	if copyHook != nil {
		copyHook(s)
	}
}
