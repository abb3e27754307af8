#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine, as root, install what isobench
# needs, build it, build the benchmark image, start the engines, run the default
# comparison (every kind of isolation that runs here) and write its report, printing how
# long each stage took. The report grows as each benchmark finishes.
#
#   scripts/quickstart.sh                 quick settings: a first report minutes after the image
#   scripts/quickstart.sh --full          the long comparison: full settings, 10 trials each
#   scripts/quickstart.sh [--full] ARGS   more `isobench run` flags, e.g. --bench startup,cpu
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

settings=--quick
if [ "${1:-}" = --full ]; then
	settings=
	shift
fi
out=runs/quickstart-$(date -u +%Y%m%dT%H%M%S)

times=()
summary() {
	[ ${#times[@]} -gt 0 ] || return 0
	echo
	echo "quickstart stages:"
	printf '  %s\n' "${times[@]}"
}
trap summary EXIT
# stage NAME COMMAND...: runs the command and notes how long it took.
stage() {
	local name=$1 t0=$SECONDS took
	shift
	echo "== $name"
	"$@"
	took=$((SECONDS - t0))
	times+=("$(printf '%-8s %2dm%02ds' "$name" $((took / 60)) $((took % 60)))")
}

stage install scripts/install-deps.sh
stage build env CGO_ENABLED=0 go build -ldflags="-s -w" -o isobench ./cmd/isobench
stage image ./isobench image build
stage daemons scripts/start-daemons.sh
# doctor exits 1 only when no runtime at all is usable; the run then says why.
stage doctor sh -c './isobench doctor || true'
# The thesis's comparison and more: every kind of isolation that runs here.
runtimes=host,runc,crun,runsc,docker-runc,docker-runsc,containerd-runc,podman-runc,qemu-microvm
if [ -n "$settings" ] && [ $# -eq 0 ]; then
	# Start-up trials take a second or two each, so they get the 10 trials a paired rank
	# test needs to tell runtimes apart (3 cannot reach p < 0.05); its report comes first.
	stage startup ./isobench run --bench startup --trials 10 --skip-unusable --out "$out/startup" \
		--runtimes "$runtimes"
	echo "first report: $(pwd)/$out/startup/report/report.html"
	stage run ./isobench run $settings --bench cpu,memory,network,http --skip-unusable \
		--out "$out/perf" --runtimes "$runtimes"
	stage report ./isobench report "$out/startup" "$out/perf" --out "$out/report"
else
	stage run ./isobench run $settings --skip-unusable --out "$out" --runtimes "$runtimes" "$@"
	stage report ./isobench report "$out"
fi
echo "report: $(pwd)/$out/report/report.html"
