#!/usr/bin/env bash
# Installs what isobench, its benchmarks and its tests need on Debian 12, as root, and
# applies the host fix crun needs on hybrid cgroups. Safe to run again.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "install-deps.sh: run it as root" >&2; exit 2; }

packages=(
  # runtimes and engines
  runc crun runsc containerd docker.io podman
  # podman's network backend: with CNI (the fallback), an internal network's bridge gets no
  # host address and the host reaches containers only through its default route
  netavark aardvark-dns
  # microVMs: QEMU, the guest kernel, ext4 tools for guest disks
  qemu-system-x86 linux-image-cloud-amd64 e2fsprogs
  # the benchmark image and the test image
  debootstrap busybox-static
  # host-side peers of the benchmarks and the overhead/agreement scripts
  sysbench fio iperf3 hyperfine python3
  # host-side clients of the application benchmarks (redis-benchmark, pgbench)
  redis-tools postgresql-client
  # report tests: the HTML page is checked in headless Chromium, with the font the
  # charts are measured in (Liberation Sans; without it text is set wider than drawn)
  chromium fonts-liberation
  # history tests: a private PostgreSQL server (started and stopped by the test itself)
  postgresql
  # the local Kubernetes cluster (scripts/k8s/cluster.sh): etcd, CNI bridge and host-local
  etcd-server containernetworking-plugins openssl
  # tools the tests and scripts use
  iproute2 procps psmisc kmod time curl ca-certificates git
)
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

# crun refuses hybrid cgroups while any controller sits on the v2 hierarchy (hugetlb on
# Debian 12 guests of newer kernels); crun-cgroups.sh mounts those as v1.
"$(dirname "$0")/crun-cgroups.sh" apply

export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || {
  echo "install-deps.sh: Go 1.26 or later is needed to build isobench (put it at /usr/local/go)" >&2; exit 1; }

# gVisor: Debian 12's runsc (2022) takes every network namespace for the host's on current
# kernels and cannot start gVisor's own network stack, so its network numbers would be the
# host kernel's. A current runsc is built from gVisor's Go module (about a minute) into
# /usr/local/bin, ahead of Debian's in PATH; its version names the module version it is.
gvisor_module=v0.0.0-20260905035102-160fafc42237
gvisor_version=go-20260905035102-160fafc42237
if [ "$(/usr/local/bin/runsc --version 2>/dev/null | head -1)" != "runsc version $gvisor_version" ]; then
  gobin=$(mktemp -d)
  trap 'rm -rf "$gobin"' EXIT
  GOBIN=$gobin CGO_ENABLED=0 go install \
    -ldflags "-X gvisor.dev/gvisor/runsc/version.version=$gvisor_version" \
    "gvisor.dev/gvisor/runsc@$gvisor_module"
  install -m 0755 "$gobin/runsc" /usr/local/bin/runsc
  echo "installed runsc $gvisor_version (gVisor) as /usr/local/bin/runsc"
fi
