#!/usr/bin/env bash
# Shows how much isobench's start-up harness adds to runc's own cost: it times the same
# runc calls (create, start, delete) on the same busybox root filesystem with isobench and
# with hyperfine, one trial of each per round, the order alternating each round, so that
# drift of the machine falls on both alike. It reports the median of the per-round
# overhead (isobench's create+start+delete over hyperfine's, minus 1) with its 95%
# distribution-free interval, and says how large an overhead this machine can resolve.
#
#   scripts/overhead.sh                      # 30 rounds, limit 3%
#   TRIALS=60 LIMIT=3 ISOBENCH=./isobench scripts/overhead.sh
#
# Exit status: 0 PASS (the whole interval lies below LIMIT), 1 FAIL (the whole interval
# lies at or above LIMIT) or INCONCLUSIVE (the interval straddles LIMIT: more rounds or a
# quieter machine are needed), 2 bad setup. Run as root, under the host lock when other
# isobench runs share the machine.
set -euo pipefail
ISOBENCH=${ISOBENCH:-./isobench}
TRIALS=${TRIALS:-30}
WARMUP=${WARMUP:-2}
LIMIT=${LIMIT:-3}
ID=isobench-overhead-$$

for tool in hyperfine runc python3 busybox; do
  command -v "$tool" >/dev/null || { echo "overhead.sh: $tool is missing: apt-get install ${tool/busybox/busybox-static}" >&2; exit 2; }
done
[ -x "$ISOBENCH" ] || { echo "overhead.sh: $ISOBENCH not found: build it with CGO_ENABLED=0 go build ./cmd/isobench" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "overhead.sh: run as root (runc and isobench run need it)" >&2; exit 2; }
[[ $TRIALS =~ ^[0-9]+$ && $TRIALS -ge 6 ]] || { echo "overhead.sh: TRIALS=$TRIALS: give 6 or more rounds (fewer have no 95% interval)" >&2; exit 2; }
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "overhead.sh: WARMUP=$WARMUP is not a whole number" >&2; exit 2; }

work=$(mktemp -d /tmp/isobench-overhead.XXXXXX)
# The image lives in a home of the script's own, so nothing of the user's is touched.
export ISOBENCH_HOME="$work/home"
cleanup() {
  runc delete --force "$ID" >/dev/null 2>&1 || true
  umount "$work/bundle/rootfs" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The image: busybox alone, so the runtime's cost is not hidden behind a big workload.
mkdir -p "$work/src/bin" "$work/src/etc"
cp "$(command -v busybox)" "$work/src/bin/busybox"
for a in sh echo; do ln -s busybox "$work/src/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/src/etc/passwd"
"$ISOBENCH" image import "$work/src" --name overhead-busybox >/dev/null

# The same container for hyperfine: the same root filesystem on an overlay, as isobench has it.
mkdir -p "$work/bundle/rootfs" "$work/upper" "$work/work"
mount -t overlay overlay -o "lowerdir=$work/src,upperdir=$work/upper,workdir=$work/work" "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec)
PYTHONPATH="$(cd "$(dirname "$0")" && pwd)/lib" python3 - "$work/bundle/config.json" <<'PY'
import json, resource, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["echo", "isobench-ready"]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": hard, "soft": soft}]
c["root"]["readonly"] = False
json.dump(c, open(path, "w"))
PY

B="$work/bundle"
# One hyperfine measurement of each runc step (after one warm-up run of it).
hyperfine_round() {
  local out=$1
  hf() { hyperfine -N --style none --warmup 1 --runs 1 --export-json "$out-$1.json" "${@:2}" >/dev/null; }
  hf create --prepare "runc delete --force $ID" "runc create --bundle $B $ID"
  hf start --prepare "sh -c 'runc delete --force $ID 2>/dev/null; runc create --bundle $B $ID'" "runc start $ID"
  hf delete --prepare "sh -c 'runc delete --force $ID 2>/dev/null; runc create --bundle $B $ID; runc start $ID; sleep 0.05'" "runc delete $ID"
  runc delete --force "$ID" >/dev/null 2>&1 || true
}
# One isobench trial of runc start-up (after one warm-up trial in the same run).
isobench_round() {
  "$ISOBENCH" run --image overhead-busybox --runtimes runc --bench startup --trials 1 --warmup 1 \
    --out "$1" >/dev/null 2>"$1.log" || { cat "$1.log" >&2; exit 1; }
}

rounds=$((WARMUP + TRIALS))
echo "== $rounds rounds ($WARMUP warm-up): one isobench trial and one hyperfine run of each runc step per round, order alternating"
for ((i = 1; i <= rounds; i++)); do
  if ((i % 2)); then
    isobench_round "$work/iso-$i"; hyperfine_round "$work/hf-$i"
  else
    hyperfine_round "$work/hf-$i"; isobench_round "$work/iso-$i"
  fi
done

PYTHONPATH="$(cd "$(dirname "$0")" && pwd)/lib" python3 - "$work" "$WARMUP" "$rounds" "$LIMIT" <<'PY'
import json, math, statistics, sys
work, warmup, rounds, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
steps = ("create", "start", "delete")

from intervals import median_interval

iso, hyp = {s: [] for s in steps}, {s: [] for s in steps}
for i in range(warmup + 1, rounds + 1):
    vals = {}
    for line in open(f"{work}/iso-{i}/samples.jsonl"):
        s = json.loads(line)
        vals[s["metric"]] = s["value"]
    for s in steps:
        iso[s].append(vals[s])
        hyp[s].append(json.load(open(f"{work}/hf-{i}-{s}.json"))["results"][0]["times"][0] * 1000)

n = len(iso["create"])
print(f"\n{'step':<8}{'isobench ms':>14}{'hyperfine ms':>14}{'overhead (median of rounds)':>30}")
for s in steps + ("sum",):
    if s == "sum":
        a = [sum(iso[t][k] for t in steps) for k in range(n)]
        b = [sum(hyp[t][k] for t in steps) for k in range(n)]
    else:
        a, b = iso[s], hyp[s]
    d = [100 * (x / y - 1) for x, y in zip(a, b)]
    iv = median_interval(d)
    span = f"[{iv[0]:+.1f}%, {iv[1]:+.1f}%]" if iv else "n too small"
    print(f"{s:<8}{statistics.median(a):>14.3f}{statistics.median(b):>14.3f}{statistics.median(d):>+12.1f}%  95% {span}")
    if s == "sum":
        total, total_iv = statistics.median(d), iv

lo, hi, cover = total_iv
half = max(total - lo, hi - total)
print(f"\nrounds: {n}; the interval covers at {100 * cover:.1f}% (order statistics of the per-round overheads)")
print(f"resolution: at {n} rounds this machine resolves the harness overhead to about +-{half:.1f} points;"
      f" an overhead is told from 0 only beyond that, and from the {limit:g}% limit only when the interval clears it")
if hi < limit:
    print(f"PASS: the harness adds {total:+.1f}% (95% [{lo:+.1f}%, {hi:+.1f}%]), all of it below the {limit:g}% limit")
    sys.exit(0)
if lo >= limit:
    print(f"FAIL: the harness adds {total:+.1f}% (95% [{lo:+.1f}%, {hi:+.1f}%]), all of it at or above the {limit:g}% limit")
    sys.exit(1)
print(f"INCONCLUSIVE: the harness adds {total:+.1f}% (95% [{lo:+.1f}%, {hi:+.1f}%]), which straddles the {limit:g}% limit;"
      f" run more rounds (TRIALS) or on a quieter machine")
sys.exit(1)
PY
