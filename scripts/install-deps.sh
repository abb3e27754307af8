#!/usr/bin/env bash
# Installs what isobench, its benchmarks and its tests need on Debian 12, as root, and
# applies the host fix crun needs on hybrid cgroups. Safe to run again.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "install-deps.sh: run it as root (sudo)" >&2; exit 2; }

packages=(
  # runtimes and engines
  runc crun runsc containerd docker.io podman
  # microVMs: QEMU, the guest kernel, ext4 tools for guest disks
  qemu-system-x86 linux-image-cloud-amd64 e2fsprogs
  # the benchmark image and the test image
  debootstrap busybox-static
  # host-side peers of the benchmarks and the overhead/agreement scripts
  sysbench fio iperf3 hyperfine python3
  # report tests: the HTML page is checked in headless Chromium
  chromium
  # tools the tests and scripts use
  iproute2 procps psmisc kmod time curl ca-certificates git
)
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

# crun refuses hybrid cgroups while any controller sits on the v2 hierarchy; on such hosts
# hugetlb is the one there, and mounting it as v1 takes it off.
if [ -d /sys/fs/cgroup/unified ] && [ -s /sys/fs/cgroup/unified/cgroup.controllers ] \
   && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  echo "mounted the hugetlb cgroup as v1, so crun runs on this hybrid-cgroup host"
fi

command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || {
  echo "install-deps.sh: Go 1.26 or later is needed to build isobench (put it at /usr/local/go)" >&2; exit 1; }
