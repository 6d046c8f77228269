// Package holders finds the processes that have a file open or locked, from
// /proc, so that a restore can refuse while the service still holds the
// live database (an idle connection included) and name the process.
//
//	hs, err := holders.Of([]string{"/srv/atocore/data/db/atocore.db"})
//	for _, h := range hs { fmt.Println(h) } // "pid 4242 (python3 -m atocore.server) has /srv/…/atocore.db open"
//
// Nothing here opens the files it looks for: it compares the device and
// inode of each /proc/PID/fd entry and each /proc/locks line with theirs,
// so no POSIX lock of this process is dropped by a close.
package holders
