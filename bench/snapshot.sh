#!/usr/bin/env bash
# snapshot.sh times atocore-backup against the plain tools doing the same
# work, on a generated AtoCore root of a chosen size, with the page cache
# warm (issue 2). Each run alternates the contenders of each operation, and
# flips who goes first, so that drift on the machine hits both sides:
#
#   create    ours: atocore-backup create --include-chroma (validation included)
#             peer: sqlite3 DB ".backup OUT" && cp -a CHROMA OUTDIR && sync
#   validate  ours: atocore-backup validate STAMP
#             peer: sqlite3 SNAPDB 'PRAGMA integrity_check' &&
#                   find SNAPDIR -type f -exec openssl dgst -sha256 {} +
#   restore   ours: atocore-backup restore STAMP --confirm-service-stopped --no-pre-snapshot
#             peer: cp -a the snapshot's db and chroma over a copy of the live
#                   paths && sync && sqlite3 DB 'PRAGMA integrity_check'
#
# restic and borg, when installed, are timed too (full backup into a fresh
# repository, and a full restore), as they are normally invoked (no sync).
# Every operation is timed with /usr/bin/time (wall seconds, peak RSS of the
# largest process); an untimed sync runs before each one so that nobody pays
# for another's write-back.
#
# Usage (flags override the environment):
#   bench/snapshot.sh [--db-mib N] [--chroma-mib M] [--segments S] [--runs R]
#                     [--work DIR] [--out FILE] [--keep]
#   DB_MIB=256 CHROMA_MIB=256 RUNS=3 bench/snapshot.sh
#
#   DB_MIB, CHROMA_MIB  sizes of atocore.db and the Chroma directory (1024, 1024)
#   SEGMENTS            Chroma vector segments (20)
#   RUNS                runs of every operation (3)
#   WORK                work directory (default: a new mktemp directory under
#                       /var/tmp, removed at exit unless KEEP=1). A WORK kept
#                       from an earlier run with the same sizes is reused: the
#                       root is not generated again.
#   OUT                 where the markdown table goes as well as stdout
#                       (bench/out/snapshot-db<N>-chroma<M>.md)
#   NO_OTHERS=1         skip restic and borg even when installed
#
# Needs about 5x (DB_MIB + CHROMA_MIB) of free disk in WORK, and as much
# free memory as that for the page cache to stay warm.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

DB_MIB=${DB_MIB:-1024}
CHROMA_MIB=${CHROMA_MIB:-1024}
SEGMENTS=${SEGMENTS:-20}
RUNS=${RUNS:-3}
WORK=${WORK:-}
OUT=${OUT:-}
KEEP=${KEEP:-0}
NO_OTHERS=${NO_OTHERS:-0}

usage() { sed -n '/^# Usage/,/^# Needs/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--db-mib) DB_MIB=$2; shift 2 ;;
	--chroma-mib) CHROMA_MIB=$2; shift 2 ;;
	--segments) SEGMENTS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) echo "snapshot.sh: unknown argument $1" >&2; usage ;;
	esac
done
for v in DB_MIB CHROMA_MIB SEGMENTS RUNS; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "snapshot.sh: $v=${!v}: want a positive whole number" >&2
		exit 2
	fi
done
size="db${DB_MIB}-chroma${CHROMA_MIB}"
OUT=${OUT:-$repo/bench/out/snapshot-$size.md}

say() { echo "snapshot.sh: $*" >&2; }

# Tools: measured, never installed.
need() { # command, Debian package
	if ! command -v "$1" >/dev/null 2>&1; then
		say "$1 is missing; install it (Debian/Ubuntu: apt-get install $2) and run again"
		exit 2
	fi
}
if [ ! -x /usr/bin/time ]; then
	say "/usr/bin/time is missing (the shell's time keyword cannot report peak RSS);" \
		"install it (Debian/Ubuntu: apt-get install time) and run again"
	exit 2
fi
need sqlite3 sqlite3
need openssl openssl
need go golang
others=()
if [ "$NO_OTHERS" != 1 ]; then
	for t in restic borg; do
		if command -v $t >/dev/null 2>&1; then
			others+=("$t")
		else
			say "$t is not installed: skipped (Debian/Ubuntu: apt-get install $([ $t = borg ] && echo borgbackup || echo restic))"
		fi
	done
fi

# Work directory.
made_work=0
if [ -z "$WORK" ]; then
	WORK=$(mktemp -d /var/tmp/atocore-bench.XXXXXX)
	made_work=1
else
	mkdir -p "$WORK"
	WORK=$(cd "$WORK" && pwd)
fi
cleanup() {
	if [ "$made_work" = 1 ] && [ "$KEEP" != 1 ]; then
		rm -rf "$WORK"
	else
		say "kept $WORK"
	fi
}
trap cleanup EXIT

data_mib=$((DB_MIB + CHROMA_MIB))
avail_mib=$(df -Pm "$WORK" | awk 'NR==2 {print $4}')
if [ -e "$WORK/root/gen.txt" ]; then need_mib=$((data_mib * 3)); else need_mib=$((data_mib * 5)); fi
if [ "$avail_mib" -lt "$need_mib" ]; then
	say "$WORK has $avail_mib MiB free; this run needs about $need_mib MiB: pick another WORK or smaller sizes"
	exit 2
fi
mem_mib=$(awk '/^MemAvailable:/ {print int($2/1024)}' /proc/meminfo)
if [ "$mem_mib" -lt $((data_mib * 4)) ]; then
	say "warning: $mem_mib MiB of memory available for about $((data_mib * 4)) MiB of files: the page cache may not stay warm"
fi

bin=$WORK/atocore-backup
root=$WORK/root
refdir=$WORK/ref-backups # the snapshot that validate and restore read
peerout=$WORK/peer-create
peerlive=$WORK/peer-live # a copy of the live paths that the peer restores over
logs=$WORK/logs
res=$WORK/results
mkdir -p "$logs"
rm -rf "$res"
mkdir -p "$res"

say "building the CLI and the generator"
(cd "$repo" && go build -o "$bin" ./examples/atocore-backup && go build -o "$WORK/gen" ./bench/gen)
# What was built: other work may land in the tree while the runs go on.
commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(cd "$repo" && git status --porcelain -- backup restore validate internal examples go.mod go.sum 2>/dev/null)" ]; then
	commit="$commit+uncommitted changes"
fi

params="$DB_MIB $CHROMA_MIB $SEGMENTS"
if [ -e "$root/gen.txt" ] && [ "$(head -1 "$root/gen.txt")" = "$params" ]; then
	say "reusing the root in $root"
else
	rm -rf "$root" "$refdir" "$peerlive"
	mkdir -p "$root"
	say "generating a root of $DB_MIB MiB of database and $CHROMA_MIB MiB of Chroma in $SEGMENTS segments"
	"$WORK/gen" -dir "$root" -db-mib "$DB_MIB" -chroma-mib "$CHROMA_MIB" -segments "$SEGMENTS" >"$logs/gen.out"
	{ echo "$params"; cat "$logs/gen.out"; } >"$root/gen.txt"
fi
tail -n +2 "$root/gen.txt" >&2
db=$root/data/db/atocore.db
chroma=$root/data/chroma

# The reference snapshot lives in a backup directory of its own, so that the
# snapshots of the create runs can be deleted without touching it.
# It is made afresh by the binary under test, whatever WORK held.
say "making the reference snapshot"
rm -rf "$refdir"
"$bin" create --root "$root" --backup-dir "$refdir" --include-chroma >"$logs/ref.json" 2>>"$logs/ours.log"
stamp=$(ls "$refdir/snapshots" | head -1)
snap=$refdir/snapshots/$stamp
if [ ! -d "$peerlive" ]; then
	mkdir -p "$peerlive"
	cp -a "$root/data" "$peerlive/data"
fi

warm() {
	find "$root/data" "$root/config" "$snap" "$peerlive" -type f -exec cat {} + >/dev/null
}

# timed OP WHO CMD...: runs CMD under /usr/bin/time after an untimed sync
# and appends "wall-seconds peak-KiB user-seconds system-seconds" to
# $res/OP.WHO. Output goes to $logs.
timed() {
	local op=$1 who=$2
	shift 2
	sync
	local tf=$WORK/time.out
	if ! /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$logs/$op.$who.out" 2>>"$logs/$op.$who.err"; then
		say "$op by $who failed:"
		tail -n 20 "$logs/$op.$who.err" "$logs/$op.$who.out" >&2
		exit 1
	fi
	tail -n 1 "$tf" >>"$res/$op.$who"
	say "  $op $who: $(tail -n 1 "$tf" | awk '{printf "%.2f s, %.1f MiB, cpu %.2f s", $1, $2/1024, $3+$4}')"
}

expect_ok() { # file: sqlite3's integrity_check printed exactly "ok"
	if [ "$(cat "$1")" != ok ]; then
		say "integrity_check did not say ok: $(head -c 300 "$1")"
		exit 1
	fi
}

# Contenders. Each prepares untimed, runs timed, and checks and cleans untimed.
create_ours() {
	rm -rf "$root/backups/snapshots/"*
	timed create ours "$bin" create --root "$root" --include-chroma
}
create_peer() {
	rm -rf "$peerout"
	mkdir -p "$peerout"
	timed create peer sh -c 'sqlite3 "$1" ".backup '"'"'$2'"'"'" && cp -a "$3" "$4" && sync' \
		_ "$db" "$peerout/atocore.db" "$chroma" "$peerout/chroma"
	rm -rf "$peerout"
}
create_restic() {
	export RESTIC_REPOSITORY=$WORK/restic-repo RESTIC_PASSWORD=atocore-bench RESTIC_CACHE_DIR=$WORK/restic-cache
	rm -rf "$RESTIC_REPOSITORY" "$RESTIC_CACHE_DIR"
	restic init -q >/dev/null
	timed create restic restic backup -q "$root/data" "$root/config"
}
create_borg() {
	export BORG_REPO=$WORK/borg-repo BORG_BASE_DIR=$WORK/borg-base BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
	rm -rf "$BORG_REPO" "$BORG_BASE_DIR"
	borg init -e none >>"$logs/create.borg.err" 2>&1
	timed create borg borg create "::bench" "$root/data" "$root/config"
}
validate_ours() {
	timed validate ours "$bin" validate "$stamp" --root "$root" --backup-dir "$refdir"
}
validate_peer() {
	timed validate peer sh -c 'sqlite3 "$1" "PRAGMA integrity_check" && find "$2" -type f -exec openssl dgst -sha256 {} + >"$3"' \
		_ "$snap/db/atocore.db" "$snap" "$WORK/digests.txt"
	expect_ok "$logs/validate.peer.out"
}
restore_ours() {
	timed restore ours "$bin" restore "$stamp" --root "$root" --backup-dir "$refdir" --confirm-service-stopped --no-pre-snapshot
}
restore_peer() {
	timed restore peer sh -c 'cp -a "$1/db/atocore.db" "$2/data/db/atocore.db" && cp -a "$1/chroma/." "$2/data/chroma/" && sync && sqlite3 "$2/data/db/atocore.db" "PRAGMA integrity_check"' \
		_ "$snap" "$peerlive"
	expect_ok "$logs/restore.peer.out"
}
restore_restic() {
	rm -rf "$WORK/restic-out"
	timed restore restic restic restore latest -q --target "$WORK/restic-out"
	rm -rf "$WORK/restic-out" "$RESTIC_REPOSITORY" "$RESTIC_CACHE_DIR"
}
restore_borg() {
	rm -rf "$WORK/borg-out"
	mkdir -p "$WORK/borg-out"
	(cd "$WORK/borg-out" && timed restore borg borg extract "::bench")
	rm -rf "$WORK/borg-out" "$BORG_REPO" "$BORG_BASE_DIR"
}

# alternate RUN OP CONTENDER...: runs the contenders of OP in turn, starting
# with a different one on each run.
alternate() {
	local run=$1 op=$2
	shift 2
	local n=$# i
	local who=("$@")
	for ((i = 0; i < n; i++)); do
		"${op}_${who[$(((i + run) % n))]}"
	done
}

say "work directory $WORK; reference snapshot $stamp"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((run = 0; run < RUNS; run++)); do
	say "run $((run + 1)) of $RUNS"
	warm
	alternate "$run" create ours peer "${others[@]}"
	alternate "$run" validate ours peer
	alternate "$run" restore ours peer "${others[@]}"
done
rm -rf "$root/backups/snapshots/"*
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Report.
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
med() { awk '{print $1}' "$res/$1" | median; }
medcpu() { awk '{print $3 + $4}' "$res/$1" | median; }
peak() { awk '$2 > m {m = $2} END {printf "%.1f", m / 1024}' "$res/$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }

cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
gen_db=$(awk '$1 == "db_bytes" {printf "%.0f", $2 / 1048576}' "$root/gen.txt")
gen_chroma=$(awk '$1 == "chroma_bytes" {printf "%.0f", $2 / 1048576}' "$root/gen.txt")
gen_files=$(awk '$1 == "chroma_files" {print $2}' "$root/gen.txt")
report() {
	echo "### atocore-backup vs peers: ${gen_db} MiB database + ${gen_chroma} MiB Chroma ($gen_files files, $SEGMENTS segments), page cache warm"
	echo
	echo "$RUNS runs, alternating; commit $commit; load average $load_start at start, $load_end at end"
	echo
	echo "$(nproc) cores ($cpu), $(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(df -PT "$WORK" | awk 'NR==2 {print $2}') on $(df -P "$WORK" | awk 'NR==2 {print $1}'); $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "| operation | ours median s | peer median s | ratio ours/peer | ours peak RSS MiB | peer peak RSS MiB |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	local op o p
	for op in create validate restore; do
		o=$(med "$op.ours")
		p=$(med "$op.peer")
		printf '| %s | %.2f | %.2f | %s | %s | %s |\n' "$op" "$o" "$p" "$(ratio "$o" "$p")" "$(peak "$op.ours")" "$(peak "$op.peer")"
	done
	echo
	echo "CPU time (user + system, all processes of the operation; less sensitive to other load on the machine than wall time):"
	echo
	echo "| operation | ours median CPU s | peer median CPU s | ratio ours/peer |"
	echo "| --- | ---: | ---: | ---: |"
	for op in create validate restore; do
		o=$(medcpu "$op.ours")
		p=$(medcpu "$op.peer")
		printf '| %s | %.2f | %.2f | %s |\n' "$op" "$o" "$p" "$(ratio "$o" "$p")"
	done
	if [ ${#others[@]} -gt 0 ]; then
		echo
		echo "| other tool | operation | median s | peak RSS MiB | ours median s | ratio ours/tool |"
		echo "| --- | --- | ---: | ---: | ---: | ---: |"
		local t
		for t in "${others[@]}"; do
			for op in create restore; do
				o=$(med "$op.ours")
				p=$(med "$op.$t")
				printf '| %s | %s | %.2f | %s | %.2f | %s |\n' "$t" "$([ $op = create ] && echo 'full backup' || echo 'full restore')" "$p" "$(peak "$op.$t")" "$o" "$(ratio "$o" "$p")"
			done
		done
	fi
	echo
	echo "Runs (wall seconds, in order):"
	echo
	local f
	for f in $(ls "$res"); do
		echo "- $f: $(awk '{printf "%s%.2f (cpu %.2f)", (NR > 1 ? ", " : ""), $1, $3 + $4}' "$res/$f")"
	done
}
mkdir -p "$(dirname "$OUT")"
report | tee "$OUT"
say "wrote $OUT"
