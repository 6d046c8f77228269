package holders

import "syscall"

type syscallStat struct{ id fileID }

func statID(path string, s *syscallStat) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return err
	}
	s.id = fileID{uint64(st.Dev), st.Ino}
	return nil
}
