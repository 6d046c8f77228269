#!/usr/bin/env bash
# Incremental Chroma snapshots (issue 6): a 1 GiB Chroma directory of 20
# segments and a small database; the second snapshot after one segment
# changed should take <= 0.15x the first's time and add <= 1.1x the changed
# bytes to the backup directory's disk usage (du counts a hardlinked file once).
#
#   bash bench/incremental.sh                 # defaults below
#   CHROMA_MIB=256 RUNS=1 bash bench/incremental.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DB_MIB=${DB_MIB:-32}
CHROMA_MIB=${CHROMA_MIB:-1024}
SEGMENTS=${SEGMENTS:-20}
RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d /var/tmp/atocore-incr.XXXXXX)}
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$WORK"' EXIT
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package time)"; exit 2; }

go build -o "$WORK/atocore-backup" ./examples/atocore-backup
go build -o "$WORK/gen" ./bench/gen
go build -o "$WORK/change" ./bench/change
ROOT="$WORK/root"
"$WORK/gen" -dir "$ROOT" -db-mib "$DB_MIB" -chroma-mib "$CHROMA_MIB" -segments "$SEGMENTS" >/dev/null
sleep 3 # let the generated files age past the racy window
cat "$ROOT"/data/chroma/*/* "$ROOT"/data/db/* >/dev/null 2>&1 || true

timed() { /usr/bin/time -f '%e %M' -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }; cat "$WORK/t"; }
du_b() { du -sb "$ROOT/backups" | cut -f1; }

printf '| run | first create s | second create s | ratio | changed bytes | du added | du/changed | linked files |\n|---|---|---|---|---|---|---|---|\n'
for run in $(seq 1 "$RUNS"); do
  rm -rf "$ROOT/backups"
  read -r t1 _ < <(timed "$WORK/atocore-backup" create --include-chroma --root "$ROOT")
  du1=$(du_b)
  changed=$("$WORK/change" -dir "$ROOT" -chroma "$(awk -v s="$SEGMENTS" 'BEGIN{print 0.95/s}')" -seed "$((run + 100))" | sed -E 's/.*chroma_bytes_changed=([0-9]+).*/\1/')
  sleep 1.1 # a new stamp
  read -r t2 _ < <(timed "$WORK/atocore-backup" create --include-chroma --root "$ROOT")
  du2=$(du_b)
  linked=$("$WORK/atocore-backup" list --root "$ROOT" | grep -o '"chroma_files_linked": [0-9]*' | tail -1 | grep -o '[0-9]*$')
  awk -v r="$run" -v a="$t1" -v b="$t2" -v c="$changed" -v d1="$du1" -v d2="$du2" -v l="$linked" \
    'BEGIN { printf "| %d | %.2f | %.2f | %.3f | %d | %d | %.3f | %d |\n", r, a, b, b/a, c, d2-d1, (d2-d1)/c, l }'
done
