package cmdline

// Combined is the exit code of a command that ran once per target (push
// to several targets): ExitOK when every run succeeded; else the code the
// failed runs agree on (all not found: ExitNotFound, as for one target);
// else ExitFailed, the code of "the operation ran and failed". An
// interrupted run makes the whole ExitInterrupted.
func Combined(codes ...int) int {
	out := ExitOK
	for _, c := range codes {
		switch {
		case c == ExitOK:
		case c == ExitInterrupted:
			return ExitInterrupted
		case out == ExitOK:
			out = c
		case out != c:
			out = ExitFailed
		}
	}
	return out
}
