#!/usr/bin/env bash
# Off-site push (issue 4) against rsync over the same loopback OpenSSH sshd,
# started by this script on 127.0.0.1 with throwaway keys and stopped at exit:
#   full: `atocore-backup push` age-encrypted  vs  `rsync -a -e ssh` of the same snapshot, unencrypted
#   incremental: after 1% of the Chroma bytes changed, a new snapshot's push; bytes sent vs the first push
# Needs sshd (openssh-server), rsync, age-keygen (age), /usr/bin/time; installs nothing.
#
#   bash bench/push.sh                        # 1 GiB database + 1 GiB Chroma, 3 runs
#   DB_MIB=256 CHROMA_MIB=256 RUNS=1 bash bench/push.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DB_MIB=${DB_MIB:-1024}
CHROMA_MIB=${CHROMA_MIB:-1024}
SEGMENTS=${SEGMENTS:-20}
RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d /var/tmp/atocore-push.XXXXXX)}
missing=()
for t in /usr/sbin/sshd rsync age-keygen ssh-keygen /usr/bin/time; do command -v "$t" >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then echo "missing: ${missing[*]} (Debian: openssh-server openssh-client rsync age time)"; exit 2; fi

SSHD_PID=
cleanup() { [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null; [[ ${KEEP:-0} == 1 ]] || rm -rf "$WORK"; }
trap cleanup EXIT

go build -o "$WORK/atocore-backup" ./examples/atocore-backup
go build -o "$WORK/gen" ./bench/gen
go build -o "$WORK/change" ./bench/change
ROOT="$WORK/root"
"$WORK/gen" -dir "$ROOT" -db-mib "$DB_MIB" -chroma-mib "$CHROMA_MIB" -segments "$SEGMENTS" >/dev/null

# A throwaway sshd on loopback.
K="$WORK/keys"; mkdir -p "$K" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$K/host" && ssh-keygen -q -t ed25519 -N '' -f "$K/user"
cp "$K/user.pub" "$K/authorized_keys"
PORT=$((20000 + RANDOM % 20000))
cat > "$K/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $K/host
AuthorizedKeysFile $K/authorized_keys
PidFile $K/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
CFG
/usr/sbin/sshd -D -e -f "$K/sshd_config" 2>"$K/sshd.log" & SSHD_PID=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.2; done
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$K/host.pub")" > "$K/known_hosts"
age-keygen -o "$K/identity.txt" 2>/dev/null
RCPT=$(age-keygen -y "$K/identity.txt")
SSH="ssh -p $PORT -i $K/user -o UserKnownHostsFile=$K/known_hosts -o BatchMode=yes"
AB="$WORK/atocore-backup"
TARGET="sftp://$(id -un)@127.0.0.1:$PORT$WORK/remote"
PUSH=("$AB" push --root "$ROOT" --target "$TARGET" --known-hosts "$K/known_hosts" --ssh-key "$K/user" --recipient "$RCPT")

"$AB" create --include-chroma --root "$ROOT" >/dev/null 2>&1
SNAP=$(ls "$ROOT/backups/snapshots" | tail -1)
cat "$ROOT"/backups/snapshots/$SNAP/db/* "$ROOT"/backups/snapshots/$SNAP/chroma/*/* >/dev/null 2>&1 || true

timed() { /usr/bin/time -f '%e %M' -o "$WORK/t" "$@" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }; cat "$WORK/t"; }
declare -a ours_t ours_m peer_t peer_m
for run in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/remote" "$WORK/rsync" "$ROOT/backups/.push-state"
  if ((run % 2)); then
    read -r t m < <(timed "${PUSH[@]}"); ours_t+=("$t"); ours_m+=("$m"); sent=$(grep -o '"bytes_sent": [0-9]*' "$WORK/out" | tail -1 | grep -o '[0-9]*$')
    read -r t m < <(timed rsync -a -e "$SSH" "$ROOT/backups/snapshots/$SNAP" "127.0.0.1:$WORK/rsync/"); peer_t+=("$t"); peer_m+=("$m")
  else
    read -r t m < <(timed rsync -a -e "$SSH" "$ROOT/backups/snapshots/$SNAP" "127.0.0.1:$WORK/rsync/"); peer_t+=("$t"); peer_m+=("$m")
    read -r t m < <(timed "${PUSH[@]}"); ours_t+=("$t"); ours_m+=("$m"); sent=$(grep -o '"bytes_sent": [0-9]*' "$WORK/out" | tail -1 | grep -o '[0-9]*$')
  fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ot=$(median "${ours_t[@]}"); pt=$(median "${peer_t[@]}"); om=$(median "${ours_m[@]}"); pm=$(median "${peer_m[@]}")

# Incremental: 1% of the Chroma bytes change, a new snapshot is pushed.
"$WORK/change" -dir "$ROOT" -chroma 0.01 -seed 77 >/dev/null
sleep 1.1
"$AB" create --include-chroma --root "$ROOT" >/dev/null 2>&1
read -r it im < <(timed "${PUSH[@]}")
isent=$(grep -o '"bytes_sent": [0-9]*' "$WORK/out" | tail -1 | grep -o '[0-9]*$')

echo "### push vs rsync: ${DB_MIB} MiB database + ${CHROMA_MIB} MiB Chroma, loopback sshd, $RUNS runs (alternating)"
echo
echo "| | ours (age-encrypted push) | rsync -a -e ssh (plaintext) | ours/rsync |"
echo "| --- | ---: | ---: | ---: |"
awk -v a="$ot" -v b="$pt" 'BEGIN { printf "| full push, median s | %.2f | %.2f | %.2f |\n", a, b, a/b }'
awk -v a="$om" -v b="$pm" 'BEGIN { printf "| peak RSS MiB | %.1f | %.1f | |\n", a/1024, b/1024 }'
echo
awk -v s="$sent" -v i="$isent" -v t="$it" -v m="$im" 'BEGIN { printf "incremental push after 1%% of Chroma changed: %.2f s, %.0f bytes sent = %.2f%% of the full push (%.0f bytes); peak RSS %.1f MiB\n", t, i, 100*i/s, s, m/1024 }'
echo "runs (s): ours ${ours_t[*]}; rsync ${peer_t[*]}"
