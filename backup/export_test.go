package backup

// SetChromaCopiedHook installs a hook that runs after each pass over the
// Chroma segment files, and returns the function that removes it.
func SetChromaCopiedHook(f func(attempt int)) (restore func()) {
	chromaCopiedHook = f
	return func() { chromaCopiedHook = nil }
}
