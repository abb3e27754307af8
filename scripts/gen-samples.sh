#!/bin/sh
# Writes a run directory with 1,000,000 samples and times `isobench report` over it
# (wall time and maximum resident memory). Usage: scripts/gen-samples.sh [DIR]
set -eu
dir=${1:-/tmp/isobench-1m}
cd "$(dirname "$0")/.."
rm -rf "$dir"
go run ./scripts/gen-samples -out "$dir" -samples 1000000
go build -o /tmp/isobench-scale ./cmd/isobench
/usr/bin/time -v /tmp/isobench-scale report "$dir" --out "$dir/report" >/dev/null 2>"$dir/time.txt" || { cat "$dir/time.txt"; exit 1; }
grep -E 'Elapsed|Maximum resident' "$dir/time.txt"
