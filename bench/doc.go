// Package bench holds the end-to-end benchmarks of atocore-backup: Go
// benchmarks of the create, validate and restore entry points on a
// generated AtoCore root (bench_test.go); compare (bench/compare), the one
// command of the performance report, which times the CLI against
// sqlite3+cp, rsync, restic and borg (docs/performance.md); snapshot.sh,
// incremental.sh and push.sh, narrower scripts for one comparison each.
//
//	go run ./bench/compare -sizes 256,1024,4096 -runs 3,3,1
//
//	go test -run '^$' -bench . ./bench/
//	ATOCORE_BENCH_DB_MIB=1024 ATOCORE_BENCH_CHROMA_MIB=1024 go test -run '^$' -bench . -benchtime 3x ./bench/
//	bench/snapshot.sh                       # 1 GiB + 1 GiB, 3 runs
//	DB_MIB=256 CHROMA_MIB=256 bench/snapshot.sh
//
// The program in bench/gen writes a sample root of a chosen size.
package bench
