// Package snapshot holds the on-disk format of an atocore-backup snapshot:
// the stamp that names it, the layout of its directory, its
// backup-metadata.json and its manifest.json.
//
// It is the one place that knows these formats, so that the packages that
// write snapshots (backup), check them (validate), restore them (restore) and
// copy them off-site (target) agree byte for byte. It does no I/O beyond
// reading and writing those two small JSON files through an afero.Fs.
package snapshot
