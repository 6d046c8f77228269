// Package backup makes and lists snapshots of an AtoCore deployment's
// runtime state: its SQLite database (copied online, while the service keeps
// writing), its project registry and, when asked, its Chroma directory.
//
//	cfg := backup.Config{Paths: backup.Paths{Root: "/srv/storage/atocore"}}
//	meta, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
//	if err != nil { ... }            // nothing new under snapshots/
//	fmt.Println(meta.Stamp)           // 20260407T060000Z, validated
//
// A snapshot is built in a staging directory inside the backup directory,
// validated, synced and renamed into snapshots/<STAMP>/: it is either
// complete and valid or absent. An advisory lock on the backup directory
// keeps creates, restores and prunes from overlapping.
//
// Snapshot files are read and written through an afero.Fs (Config.FS), so
// the backup directory can be an in-memory filesystem in tests; the live
// database is always a real file, because SQLite needs one.
package backup
