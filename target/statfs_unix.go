//go:build linux || darwin || freebsd

package target

import "syscall"

// freeSpace is statfs(2)'s blocks available to unprivileged users, in bytes.
func freeSpace(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
