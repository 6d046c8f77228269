package backup

import "time"

// SetChromaCopiedHook installs a hook that runs after each pass over the
// Chroma segment files, and returns the function that removes it.
func SetChromaCopiedHook(f func(attempt int)) (restore func()) {
	chromaCopiedHook = f
	return func() { chromaCopiedHook = nil }
}

// SetRacyWindow changes how recent a file change must be for its state not
// to be recorded, and returns the function that restores it. Tests make
// files and snapshot them within the same second.
func SetRacyWindow(d time.Duration) (restore func()) {
	old := racyWindow
	racyWindow = d
	return func() { racyWindow = old }
}
