#!/usr/bin/env bash
# guard.sh: the regression guard across two commits. It checks out OLD and
# NEW into temporary git worktrees, runs BenchmarkGuard (bench/guard_test.go)
# in each, alternating OLD, NEW, OLD, NEW... for -rounds rounds, and prints
# every shape's create/validate/restore ratio (ours ÷ plain tools, the
# median over the rounds) for both commits with the change. It exits 1 when
# a ratio of NEW is more than -threshold (a fraction, default 0.25) above
# OLD's, 2 on bad usage or a failed run. On the shared 2-core machines one
# iteration of the same code moved a ratio by up to 35%: the default is 3
# iterations (-benchtime 3x, the median ratio) and a 25% threshold; use
# -rounds 3 before trusting a small change.
#
#   bench/guard.sh HEAD~1 HEAD
#   bench/guard.sh -threshold 0.15 -rounds 3 main shapes17
#
# Both commits must contain bench/guard_test.go. Each round takes about a
# minute a commit (three 64 MiB roots of database and Chroma, generated per
# round, and 3 iterations on each).
set -euo pipefail

usage() {
  echo "usage: bench/guard.sh [-threshold FRACTION] [-rounds N] [-benchtime 3x] OLD NEW" >&2
  exit 2
}
threshold=0.25
rounds=1
benchtime=3x
while (($#)); do
  case $1 in
    -threshold) threshold=${2:?}; shift 2 ;;
    -rounds) rounds=${2:?}; shift 2 ;;
    -benchtime) benchtime=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "guard.sh: unknown flag $1" >&2; usage ;;
    *) break ;;
  esac
done
(($# == 2)) || usage
[[ $threshold =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "guard.sh: -threshold $threshold: want a fraction such as 0.10" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "guard.sh: -rounds $rounds: want 1 to 99" >&2; exit 2; }

repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/atocore-guard.XXXXXX")
cleanup() {
  for side in old new; do
    [[ -d $tmp/$side ]] && git -C "$repo" worktree remove --force "$tmp/$side" >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

names=(old new)
commits=("$1" "$2")
for i in 0 1; do
  side=${names[$i]}
  rev=$(git -C "$repo" rev-parse --verify --quiet "${commits[$i]}^{commit}") ||
    { echo "guard.sh: ${commits[$i]} is not a commit" >&2; exit 2; }
  git -C "$repo" worktree add --quiet --detach "$tmp/$side" "$rev"
  [[ -f $tmp/$side/bench/guard_test.go ]] ||
    { echo "guard.sh: ${commits[$i]} has no bench/guard_test.go: pick a commit that has the guard" >&2; exit 2; }
done

for ((r = 1; r <= rounds; r++)); do
  for side in old new; do
    echo "guard.sh: round $r/$rounds: $side" >&2
    if ! (cd "$tmp/$side" && go test -count=1 -run '^$' -bench '^BenchmarkGuard$' -benchtime "$benchtime" ./bench/) >"$tmp/$side-$r.txt" 2>&1; then
      echo "guard.sh: the guard failed on $side (${commits[0]} / ${commits[1]}):" >&2
      tail -20 "$tmp/$side-$r.txt" >&2
      exit 2
    fi
  done
done

# One "side shape metric value" line per ratio and round, then the medians,
# a table, and the verdict.
for side in old new; do
  for f in "$tmp/$side"-*.txt; do
    awk -v side="$side" '/^BenchmarkGuard\// {
      shape = $1; sub(/^BenchmarkGuard\//, "", shape); sub(/-[0-9]+$/, "", shape)
      for (i = 3; i < NF; i += 2) if ($(i+1) ~ /-ratio$/) print side, shape, $(i+1), $i
    }' "$f"
  done
done >"$tmp/ratios.txt"
[[ -s $tmp/ratios.txt ]] || { echo "guard.sh: no ratios in the benchmark output" >&2; exit 2; }

sort -k2,2 -k3,3 -k1,1 -k4,4g "$tmp/ratios.txt" | awk -v thr="$threshold" -v old="$1" -v new="$2" '
  { k = $2 " " $3; v[$1, k, ++n[$1, k]] = $4; keys[k] = 1 }
  function med(side, k,   c) { c = n[side, k]; if (c == 0) return -1
    return (c % 2) ? v[side, k, (c + 1) / 2] : (v[side, k, c / 2] + v[side, k, c / 2 + 1]) / 2 }
  END {
    printf "%-8s %-16s %10s %10s %8s\n", "shape", "ratio", "old", "new", "change"
    worse = 0
    for (k in keys) order[++m] = k
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (order[j] < order[i]) { t = order[i]; order[i] = order[j]; order[j] = t }
    for (i = 1; i <= m; i++) {
      k = order[i]; split(k, p, " "); a = med("old", k); b = med("new", k)
      if (a <= 0 || b < 0) { printf "%-8s %-16s %10s %10s %8s\n", p[1], p[2], (a < 0 ? "-" : a), (b < 0 ? "-" : b), "?"; continue }
      ch = (b - a) / a; flag = ""
      if (ch > thr) { flag = "  WORSE"; worse++ }
      printf "%-8s %-16s %10.3f %10.3f %+7.1f%%%s\n", p[1], p[2], a, b, 100 * ch, flag
    }
    printf "old = %s, new = %s; threshold +%.0f%%\n", old, new, 100 * thr
    if (worse) { printf "%d ratio(s) grew by more than the threshold\n", worse; exit 1 }
  }'
