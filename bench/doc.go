// Package bench holds the end-to-end benchmarks of atocore-backup: Go
// benchmarks of the create, validate and restore entry points on a
// generated AtoCore root (bench_test.go); compare (bench/compare), the one
// command of the performance report, which times the CLI against
// sqlite3+cp, rsync, restic and borg (docs/performance.md); snapshot.sh,
// incremental.sh and push.sh, narrower scripts for one comparison each.
//
//	go run ./bench/compare -sizes 256,1024,4096 -runs 3,3,1
//	go run ./bench/compare -sizes 256,1024 -shapes random,text,many
//
//	go test -run '^$' -bench . ./bench/
//	ATOCORE_BENCH_DB_MIB=1024 ATOCORE_BENCH_CHROMA_MIB=1024 go test -run '^$' -bench . -benchtime 3x ./bench/
//	bench/snapshot.sh                       # 1 GiB + 1 GiB, 3 runs
//	DB_MIB=256 CHROMA_MIB=256 bench/snapshot.sh
//
// The regression guard (guard_test.go, guard.sh) times ours' create,
// validate and restore against the plain tools on a 64 MiB root of each
// dataset shape and reports the ratios; guard.sh compares two commits and
// fails when a ratio grew by more than a threshold:
//
//	go test -run '^$' -bench Guard -benchtime 1x ./bench/
//	bench/guard.sh -threshold 0.10 HEAD~1 HEAD
//
// The program in bench/gen writes a sample root of a chosen size and shape
// (-shape random|text|many); bench/compare runs any of them (-shapes).
package bench
