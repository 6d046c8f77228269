package holders

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Holder is a process that has one of the files open or locked.
type Holder struct {
	PID     int
	Command string // its command line, "" when /proc does not show it
	Path    string // the file it holds, as the caller named it
	How     string // "open" or "locked"
}

func (h Holder) String() string {
	who := fmt.Sprintf("pid %d", h.PID)
	if h.Command != "" {
		who += " (" + h.Command + ")"
	}
	return fmt.Sprintf("%s has %s %s", who, h.Path, h.How)
}

// maxProcs and maxFDs bound the scan of /proc on a machine with very many
// processes or descriptors; past them Of fails (ErrTooMany) rather than
// answer "nobody" from half a look.
const (
	maxProcs = 1 << 20
	maxFDs   = 1 << 24
)

// ErrTooMany is matched by errors.Is when there were more processes or
// descriptors than Of looks at.
var ErrTooMany = errors.New("too many processes or open files to look at all of them")

type fileID struct{ dev, ino uint64 }

// Of returns the processes other than this one that have one of paths open
// (any descriptor of theirs on the same inode) or hold a lock on it
// (/proc/locks, which shows every process's locks even where their
// descriptors cannot be read). Paths that do not exist are skipped. The
// result is sorted by PID; it is empty where /proc is not mounted.
func Of(paths []string) ([]Holder, error) {
	want := map[fileID]string{}
	for _, p := range paths {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err == nil {
			want[fileID{uint64(st.Dev), st.Ino}] = p
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	self := os.Getpid()
	found := map[[2]string]Holder{}
	add := func(pid int, path, how string) {
		if pid == self || pid <= 0 || forkOfSelf(pid, self) {
			return
		}
		k := [2]string{strconv.Itoa(pid), path}
		if _, ok := found[k]; !ok {
			found[k] = Holder{PID: pid, Command: command(pid), Path: path, How: how}
		}
	}
	if err := scanLocks(want, add); err != nil {
		return nil, err
	}
	if err := scanFDs(want, add); err != nil {
		return nil, err
	}
	out := make([]Holder, 0, len(found))
	for _, h := range found {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Holder) int {
		if a.PID != b.PID {
			return a.PID - b.PID
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out, nil
}

// scanFDs stats every /proc/PID/fd/N: the kernel resolves each to the
// open file's inode, deleted or not, without opening it.
func scanFDs(want map[fileID]string, add func(int, string, string)) error {
	procs, err := os.ReadDir("/proc")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read /proc: %w", err)
	}
	fds := 0
	if len(procs) > maxProcs {
		return ErrTooMany
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // gone, or not ours to read (/proc/locks still shows its locks)
		}
		for _, e := range entries {
			if fds++; fds > maxFDs {
				return ErrTooMany
			}
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join(dir, e.Name()), &st) != nil {
				continue
			}
			if path, ok := want[fileID{uint64(st.Dev), st.Ino}]; ok {
				add(pid, path, "open")
			}
		}
	}
	return nil
}

// scanLocks reads /proc/locks: "1: POSIX  ADVISORY  READ 4242 08:01:1234 1073741824 1073741824",
// the fifth field the PID (-1 for an OFD lock) and the sixth MAJOR:MINOR:INODE in hex.
func scanLocks(want map[fileID]string, add func(int, string, string)) error {
	f, err := os.Open("/proc/locks")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read /proc/locks: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for lines := 0; sc.Scan(); lines++ {
		if lines >= maxFDs {
			return ErrTooMany
		}
		fields := strings.Fields(sc.Text())
		// A blocked waiter's line has "->" after the number.
		if len(fields) > 1 && fields[1] == "->" {
			fields = append(fields[:1], fields[2:]...)
		}
		if len(fields) < 6 {
			continue
		}
		id, ok := parseLockID(fields[5])
		if !ok {
			continue
		}
		path, ok := want[id]
		if !ok {
			continue
		}
		pid, _ := strconv.Atoi(fields[4])
		if pid <= 0 {
			// An OFD lock names no process; the descriptor scan finds its holder.
			continue
		}
		add(pid, path, "locked")
	}
	return sc.Err()
}

// parseLockID parses /proc/locks' "MAJOR:MINOR:INODE" (major and minor in hex).
func parseLockID(s string) (fileID, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return fileID{}, false
	}
	major, err1 := strconv.ParseUint(parts[0], 16, 32)
	minor, err2 := strconv.ParseUint(parts[1], 16, 32)
	ino, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return fileID{}, false
	}
	return fileID{mkdev(major, minor), ino}, true
}

// mkdev is Linux's encoding of a device number (glibc's gnu_dev_makedev).
func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

// command returns a process's command line, bounded, with NULs as spaces.
func command(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// forkOfSelf reports whether pid is a child of this process that has not
// yet run its own program: between fork and exec (os/exec starting any
// command, from any goroutine) a child holds a copy of every descriptor
// of this process, SQLite's included (they are not close-on-exec), and
// would otherwise be taken, for that instant, for another process using
// the database.
func forkOfSelf(pid, self int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 || f[1] != strconv.Itoa(self) {
		return false
	}
	exe, err1 := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	own, err2 := os.Readlink("/proc/self/exe")
	return err1 == nil && err2 == nil && exe == own
}
