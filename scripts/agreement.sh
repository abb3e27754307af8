#!/usr/bin/env bash
# Shows that isobench's host baseline measures what the tools measure when run by hand: in
# each of TRIALS rounds it runs sysbench, fio and the syscall probe by hand on the host and
# `isobench run --runtimes host` with the same settings (one trial), the order alternating
# each round, so drift of the host falls on both alike. Per metric it reports the median
# of the per-round differences (isobench over by hand, minus 1) with its 95%
# distribution-free interval, and the difference this host can resolve at TRIALS rounds.
# A metric agrees when its whole interval lies within +-LIMIT percent, differs when the
# whole interval lies outside, and is inconclusive otherwise. Exit status 1 when any
# metric differs, is inconclusive or is missing. Run it on an otherwise idle host.
#
#   scripts/agreement.sh                         # cpu,memory,syscall,disk, 6 rounds
#   BENCHES=cpu TRIALS=9 ISOBENCH=./isobench scripts/agreement.sh
#
# Needs: sysbench, fio, python3, root (the host driver chroots), and the default image
# (`isobench image build`), since the host baseline runs the image's sysbench and fio.
set -euo pipefail
ISOBENCH=${ISOBENCH:-./isobench}
TRIALS=${TRIALS:-6}
LIMIT=${LIMIT:-3}
BENCHES=${BENCHES:-cpu,memory,syscall,disk}
# Per-workload duration in seconds and the fio file size: the same for both sides.
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
FIO_SIZE_MIB=${FIO_SIZE_MIB:-256}

for tool in sysbench fio python3; do
  command -v "$tool" >/dev/null || { echo "agreement.sh: $tool is missing: apt-get install $tool" >&2; exit 2; }
done
[ -x "$ISOBENCH" ] || { echo "agreement.sh: $ISOBENCH not found: build it with CGO_ENABLED=0 go build ./cmd/isobench" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "agreement.sh: run as root (the host baseline chroots into the image)" >&2; exit 2; }
[[ $TRIALS =~ ^[0-9]+$ && $TRIALS -ge 6 ]] || { echo "agreement.sh: TRIALS=$TRIALS: give 6 or more rounds (fewer have no 95% interval)" >&2; exit 2; }

work=$(mktemp -d /tmp/isobench-agreement.XXXXXX)
# The host baseline's root filesystem is an overlay whose upper layer lives in isobench's
# home, so fio by hand runs on such an overlay on the same filesystem, not on bare /var/tmp.
ovl="${ISOBENCH_HOME:-/var/lib/isobench}/isobench-agreement-$$"
cleanup() {
  umount "$work/tmpfs" "$ovl/merged" 2>/dev/null || true
  rm -rf "$work" "$ovl"
}
trap cleanup EXIT INT TERM
mkdir -p "$work/tmpfs" "$ovl/lower" "$ovl/upper" "$ovl/work" "$ovl/merged"
mount -t tmpfs -o "size=$(( (FIO_SIZE_MIB + 64) << 20 ))" tmpfs "$work/tmpfs"
mount -t overlay overlay -o "lowerdir=$ovl/lower,upperdir=$ovl/upper,workdir=$ovl/work" "$ovl/merged"

# Settings only for the benchmarks asked for: the config refuses unknown names.
{
  echo "benchmarks:"
  for b in ${BENCHES//,/ }; do
    case $b in
      cpu|memory) echo "  $b: {time: ${SECONDS_PER_RUN}s}" ;;
      disk)       echo "  disk: {runtime: ${SECONDS_PER_RUN}s, size_mib: ${FIO_SIZE_MIB}}" ;;
      syscall)    echo "  syscall: {min_time: 1s, repetitions: 5}" ;;
      *) echo "agreement.sh: no by-hand workload for benchmark $b (cpu, memory, syscall, disk)" >&2; exit 2 ;;
    esac
  done
} > "$work/config.yaml"

export ISOBENCH TRIALS LIMIT BENCHES SECONDS_PER_RUN FIO_SIZE_MIB WORK="$work" OVERLAY="$ovl/merged"
PYTHONPATH="$(cd "$(dirname "$0")" && pwd)/lib" python3 - <<'PY'
import json, math, os, re, statistics, subprocess, sys

env = os.environ
isobench, work = env["ISOBENCH"], env["WORK"]
trials, limit = int(env["TRIALS"]), float(env["LIMIT"])
benches = [b for b in env["BENCHES"].split(",") if b]
secs, size_mib = env["SECONDS_PER_RUN"], int(env["FIO_SIZE_MIB"])
ncpu = len(os.sched_getaffinity(0))

def out(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout

def number(pattern, text):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"agreement.sh: no {pattern!r} in output:\n{text}")
    return float(m.group(1))

# Each by-hand workload returns [(metric, params, value)], params as isobench emits them.
def cpu():
    res = []
    for n in sorted({1, ncpu}):
        o = out(["sysbench", "cpu", f"--threads={n}", f"--time={secs}", "--cpu-max-prime=10000", "run"])
        res.append(("events_per_second", {"threads": str(n)}, number(r"events per second:\s+([0-9.]+)", o)))
    return res

def memory():
    res = []
    for op in ("read", "write"):
        for block, label in (("1K", "1KiB"), ("1M", "1MiB")):
            o = out(["sysbench", "memory", "--threads=1", f"--time={secs}", f"--memory-oper={op}",
                     "--memory-access-mode=seq", f"--memory-block-size={block}", "--memory-total-size=0", "run"])
            res.append(("throughput", {"op": op, "block": label, "access": "seq", "threads": "1"},
                        number(r"MiB transferred \(([0-9.]+) MiB/sec\)", o)))
    return res

def syscall():
    r = json.loads(out([isobench, "probe", "syscall", "--min-time", "1s", "--repetitions", "5"]))
    return [("getpid", {}, statistics.median(r["getpid_ns"])),
            ("clock_gettime", {}, statistics.median(r["clock_gettime_ns"])),
            ("fork_exec_wait", {}, statistics.median(r["fork_exec_wait_ns"]))]

def disk():
    res = []
    jobs = [("seq-write", "write", "1M"), ("seq-read", "read", "1M"),
            ("rand-read", "randread", "4k"), ("rand-write", "randwrite", "4k")]
    for fs, path, direct in (("rootfs", f"{env['OVERLAY']}/isobench-fio.dat", 1),
                             ("tmpfs", f"{work}/tmpfs/isobench-fio.dat", 0)):
        args = ["fio", "--output-format=json", f"--filename={path}", f"--size={size_mib << 20}",
                f"--runtime={secs}", "--time_based", "--ioengine=psync", "--iodepth=1",
                "--numjobs=1", f"--direct={direct}"]
        for i, (name, rw, bs) in enumerate(jobs):
            args += [f"--name={name}", f"--rw={rw}", f"--bs={bs}", "--stonewall"]
        args.append("--unlink=1")
        o = out(args)
        report = json.loads(o[o.index("{"):])
        p = {"fs": fs, "direct": str(direct), "ioengine": "psync", "iodepth": "1"}
        by = {j["jobname"]: j for j in report["jobs"]}
        seq = dict(p, bs="1MiB")
        rnd = dict(p, bs="4KiB")
        res += [("seq_write", seq, by["seq-write"]["write"]["bw_bytes"] / 2**20),
                ("seq_read", seq, by["seq-read"]["read"]["bw_bytes"] / 2**20),
                ("rand_read_iops", rnd, by["rand-read"]["read"]["iops"]),
                ("rand_read_p99", rnd, by["rand-read"]["read"]["clat_ns"]["percentile"]["99.000000"] / 1e3),
                ("rand_write_iops", rnd, by["rand-write"]["write"]["iops"]),
                ("rand_write_p99", rnd, by["rand-write"]["write"]["clat_ns"]["percentile"]["99.000000"] / 1e3)]
    return res

workloads = {"cpu": cpu, "memory": memory, "syscall": syscall, "disk": disk}
def key(bench, metric, params):
    return (bench, metric, tuple(sorted(params.items())))

def isobench_round(rnd, warmup):
    """One `isobench run` of one trial; returns its samples of the host runtime."""
    run_dir = f"{work}/run-{rnd}"
    r = subprocess.run([isobench, "--config", f"{work}/config.yaml", "run", "--runtimes", "host",
                        "--bench", ",".join(benches), "--trials", "1", "--warmup", str(warmup),
                        "--out", run_dir], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"agreement.sh: isobench run failed ({r.returncode}):\n{r.stderr}")
    with open(f"{run_dir}/samples.jsonl") as f:
        return [s for s in map(json.loads, f) if s["runtime"] == "host"]

load = os.getloadavg()[0]
if load > 0.5:
    print(f"agreement.sh: warning: load average {load:.2f}; other work on the host skews both sides", file=sys.stderr)

from intervals import median_interval

# Each round has one by-hand trial and one one-trial `isobench run`; the order alternates,
# so that drift in the host's state (load, frequency, page cache) falls on both sides
# alike. Round 0 warms up. Values are kept per round, so each round is a pair.
by_hand, measured = {}, {}
def hand_round(rnd):
    for b in benches:
        for metric, params, v in workloads[b]():
            if rnd > 0:
                by_hand.setdefault(key(b, metric, params), {})[rnd] = v
def iso_round(rnd):
    for s in isobench_round(rnd, 1 if rnd == 0 else 0):
        if rnd > 0:
            measured.setdefault(key(s["benchmark"], s["metric"], s.get("params") or {}), {})[rnd] = s["value"]
for rnd in range(trials + 1):
    first, second = (hand_round, iso_round) if rnd % 2 == 0 else (iso_round, hand_round)
    order = "by hand, then isobench" if rnd % 2 == 0 else "isobench, then by hand"
    print(f"== round {rnd}/{trials}{' (warm-up)' if rnd == 0 else ''}: {order} "
          f"(isobench run --runtimes host --bench {','.join(benches)} --trials 1)", flush=True)
    first(rnd)
    second(rnd)

counts = {"agree": 0, "DIFFERS": 0, "inconclusive": 0, "missing": 0}
resolution = []
print(f"\n{'benchmark':9} {'metric':18} {'params':44} {'by hand':>11} {'isobench':>11} {'diff':>7}  {'95% interval':>17}  verdict")
for k in sorted(by_hand):
    bench, metric, params = k
    label = ",".join(f"{a}={b}" for a, b in params)
    hand = by_hand[k]
    iso = measured.get(k, {})
    rounds = sorted(set(hand) & set(iso))
    if len(rounds) < len(hand):
        print(f"{bench:9} {metric:18} {label:44} {statistics.median(hand.values()):11.4g} {'missing':>11}")
        counts["missing"] += 1
        continue
    d = [100 * (iso[r] / hand[r] - 1) for r in rounds]
    med, iv = statistics.median(d), median_interval(d)
    lo, hi = iv[0], iv[1]
    resolution.append(max(med - lo, hi - med))
    verdict = "agree" if -limit <= lo and hi <= limit else "DIFFERS" if lo > limit or hi < -limit else "inconclusive"
    counts[verdict] += 1
    print(f"{bench:9} {metric:18} {label:44} {statistics.median(hand.values()):11.4g} {statistics.median(iso.values()):11.4g} "
          f"{med:+6.1f}%  [{lo:+6.1f}%, {hi:+6.1f}%]  {verdict}")
print(f"\n{trials} paired rounds per metric; the intervals are order statistics of the per-round differences"
      f" (coverage {100 * median_interval(list(range(trials)))[2]:.1f}%)")
if resolution:
    print(f"resolution: at {trials} rounds this host resolves a difference to +-{min(resolution):.1f} points at best"
          f" (median +-{statistics.median(resolution):.1f}, worst +-{max(resolution):.1f}); a metric can only be called"
          f" within +-{limit:g}% when its interval is narrower than that")
print(f"{counts['agree']} agree within +-{limit:g}%, {counts['DIFFERS']} differ, {counts['inconclusive']} inconclusive"
      f" (more rounds or a quieter host needed), {counts['missing']} missing")
sys.exit(0 if counts["agree"] == len(by_hand) else 1)
PY
