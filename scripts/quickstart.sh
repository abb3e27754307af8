#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine, as root, install what isobench
# needs, build it, build the benchmark image, start the engines, and run the default
# comparison (every usable runtime, quick settings) with its report.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
scripts/install-deps.sh
CGO_ENABLED=0 go build -o isobench ./cmd/isobench
scripts/start-daemons.sh
./isobench image build
./isobench doctor || true
# The thesis's comparison and more: every kind of isolation that runs here, quick settings.
./isobench run --quick --skip-unusable --runtimes host,runc,crun,runsc,docker-runc,docker-runsc,containerd-runc,podman-runc,qemu-microvm "$@"
