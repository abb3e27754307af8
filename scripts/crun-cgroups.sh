#!/usr/bin/env bash
# crun refuses to run on a hybrid cgroup host (v1 controllers plus a cgroup v2 hierarchy at
# /sys/fs/cgroup/unified) while any controller sits on the v2 hierarchy. It decides by
# reading the content of /sys/fs/cgroup/unified/cgroup.controllers (cgroupfs files always
# report size 0, so a size test never sees them). Mounting those controllers as cgroup v1
# takes them off v2.
#
#   scripts/crun-cgroups.sh check   exit 0 and name the controllers when crun would refuse,
#                                   exit 1 when it would not (with the reason)
#   scripts/crun-cgroups.sh apply   mount those controllers as cgroup v1 (as root); a no-op
#                                   when crun would not refuse
#
# CGROUP_ROOT (default /sys/fs/cgroup) is only for reading another tree in tests.
set -euo pipefail

root=${CGROUP_ROOT:-/sys/fs/cgroup}
unified=$root/unified

# controllers prints the controllers on the v2 hierarchy of a hybrid host, and fails when
# the host is not hybrid (crun then has nothing to refuse for this reason).
controllers() {
	local top
	top=$(stat -f -c %T "$root" 2>/dev/null) || { echo "no cgroup tree at $root"; return 1; }
	if [ "$top" = cgroup2fs ]; then
		echo "cgroups are unified (v2 only): crun runs"
		return 1
	fi
	if [ "$(stat -f -c %T "$unified" 2>/dev/null)" != cgroup2fs ]; then
		echo "cgroups are v1 only (no v2 hierarchy at $unified): crun runs"
		return 1
	fi
	local list
	list=$(cat "$unified/cgroup.controllers")
	if [ -z "$list" ]; then
		echo "hybrid cgroups with no controller on v2: crun runs"
		return 1
	fi
	echo "$list"
}

case "${1:-}" in
check)
	if list=$(controllers); then
		echo "crun refuses: controllers on cgroup v2 of a hybrid host: $list"
		exit 0
	fi
	echo "$list"
	exit 1
	;;
apply)
	list=$(controllers) || { echo "crun cgroups: $list"; exit 0; }
	[ "$(id -u)" -eq 0 ] || { echo "crun-cgroups.sh apply: run it as root" >&2; exit 2; }
	for c in $list; do
		# v2's io is v1's blkio; every other controller keeps its name.
		v1=$c
		[ "$c" = io ] && v1=blkio
		dir=$root/$v1
		mountpoint -q "$dir" && continue
		mkdir -p "$dir"
		mount -t cgroup -o "$v1" cgroup "$dir"
		echo "mounted the $v1 cgroup as v1 at $dir, so crun runs on this hybrid-cgroup host"
	done
	if list=$(controllers); then
		echo "crun-cgroups.sh: controllers still on cgroup v2 after mounting them as v1: $list" >&2
		exit 1
	fi
	;;
*)
	echo "usage: $0 check|apply" >&2
	exit 2
	;;
esac
