#!/usr/bin/env bash
# Shows that isobench's start-up harness adds less than 3% to runc's own cost: it times
# the same runc calls (create, start, delete) with hyperfine on the same busybox root
# filesystem and compares the medians with isobench's. `runc run` is shown for reference.
#
#   sudo scripts/overhead.sh            # 30 trials each
#   TRIALS=100 ISOBENCH=./isobench sudo -E scripts/overhead.sh
set -euo pipefail
ISOBENCH=${ISOBENCH:-./isobench}
TRIALS=${TRIALS:-30}
LIMIT=${LIMIT:-3}
ID=isobench-overhead-$$

for tool in hyperfine runc python3 busybox; do
  command -v "$tool" >/dev/null || { echo "overhead.sh: $tool is missing: apt-get install ${tool/busybox/busybox-static}" >&2; exit 2; }
done
[ -x "$ISOBENCH" ] || { echo "overhead.sh: $ISOBENCH not found: build it with CGO_ENABLED=0 go build ./cmd/isobench" >&2; exit 2; }

work=$(mktemp -d /tmp/isobench-overhead.XXXXXX)
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

echo "== isobench: $TRIALS trials of runc start-up"
"$ISOBENCH" run --image overhead-busybox --runtimes runc --bench startup \
  --trials "$TRIALS" --warmup 3 --out "$work/run" >/dev/null 2>"$work/run.log" || { cat "$work/run.log" >&2; exit 1; }

# The same container for hyperfine: the same root filesystem on an overlay, as isobench has it.
mkdir -p "$work/bundle/rootfs" "$work/upper" "$work/work"
mount -t overlay overlay -o "lowerdir=$work/src,upperdir=$work/upper,workdir=$work/work" "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'PY'
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
hf() { hyperfine -N --style basic --warmup 3 --runs "$TRIALS" --export-json "$work/$1.json" "${@:2}" >/dev/null; }
echo "== hyperfine: the same runc calls"
hf create --prepare "runc delete --force $ID" "runc create --bundle $B $ID"
hf start --prepare "sh -c 'runc delete --force $ID 2>/dev/null; runc create --bundle $B $ID'" "runc start $ID"
hf delete --prepare "sh -c 'runc delete --force $ID 2>/dev/null; runc create --bundle $B $ID; runc start $ID; sleep 0.05'" "runc delete $ID"
runc delete --force "$ID" >/dev/null 2>&1 || true
hf run "runc run --bundle $B $ID"

python3 - "$work" "$LIMIT" <<'PY'
import json, statistics, sys
work, limit = sys.argv[1], float(sys.argv[2])
iso = {}
for line in open(f"{work}/run/samples.jsonl"):
    s = json.loads(line)
    iso.setdefault(s["metric"], []).append(s["value"])
hyper = {k: statistics.median(json.load(open(f"{work}/{k}.json"))["results"][0]["times"]) * 1000
         for k in ("create", "start", "delete", "run")}
print(f"{'step':<8}{'isobench ms':>14}{'hyperfine ms':>14}{'overhead':>10}")
tot_i = tot_h = 0.0
for step in ("create", "start", "delete"):
    i, h = statistics.median(iso[step]), hyper[step]
    tot_i += i; tot_h += h
    print(f"{step:<8}{i:>14.3f}{h:>14.3f}{(i/h-1)*100:>9.1f}%")
over = (tot_i / tot_h - 1) * 100
print(f"{'sum':<8}{tot_i:>14.3f}{tot_h:>14.3f}{over:>9.1f}%")
print(f"reference: runc run (create+start+wait+delete in one process) {hyper['run']:.3f} ms; isobench total {statistics.median(iso['total']):.3f} ms")
if over >= limit:
    print(f"FAIL: the harness adds {over:.1f}% (limit {limit}%)")
    sys.exit(1)
print(f"PASS: the harness adds {over:.1f}% (limit {limit}%)")
PY
