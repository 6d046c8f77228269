// Package bench holds the end-to-end benchmarks of atocore-backup: Go
// benchmarks of the create, validate and restore entry points on a
// generated AtoCore root (bench_test.go), and snapshot.sh, which times the
// CLI against sqlite3, cp and openssl doing the same work.
//
//	go test -run '^$' -bench . ./bench/
//	ATOCORE_BENCH_DB_MIB=1024 ATOCORE_BENCH_CHROMA_MIB=1024 go test -run '^$' -bench . -benchtime 3x ./bench/
//	bench/snapshot.sh                       # 1 GiB + 1 GiB, 3 runs
//	DB_MIB=256 CHROMA_MIB=256 bench/snapshot.sh
//
// The program in bench/gen writes a sample root of a chosen size.
package bench
