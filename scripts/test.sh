#!/usr/bin/env bash
# Runs isobench's tests, as root, against the real runtimes and engines on this machine.
# Packages run one at a time (-p 1): the cleanup tests sweep every isobench- object on the
# host, and two cores are better spent on one measurement at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted" >&2; exit 1; }
go vet ./...
# -json through testreport: plain go test hides why a test was skipped.
go build -o /tmp/isobench-testreport ./scripts/testreport
go test -p 1 -timeout 80m -count=1 -json "$@" ./... | /tmp/isobench-testreport
