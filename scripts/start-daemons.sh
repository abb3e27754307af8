#!/bin/bash
# Start containerd and dockerd for isobench's engine tests and runs, with their state under
# a temporary directory, docker's bridge on 198.18.0.0/15, and crun and runsc registered.
# Idempotent: a daemon that already answers at its socket is left alone.
#
#   scripts/start-daemons.sh          start (or reuse) both daemons, print their sockets
#   scripts/start-daemons.sh stop     stop the daemons this script started
#
# Environment: ISOBENCH_DAEMON_DIR (state, default /tmp/isobench-daemons),
# CONTAINERD_SOCKET (default /run/containerd/containerd.sock),
# DOCKER_SOCKET (default /var/run/docker.sock).
set -euo pipefail

dir=${ISOBENCH_DAEMON_DIR:-/tmp/isobench-daemons}
ctrd_sock=${CONTAINERD_SOCKET:-/run/containerd/containerd.sock}
docker_sock=${DOCKER_SOCKET:-/var/run/docker.sock}
# dockerd's exec root holds sockets: keep its path short.
exec_root=/run/isobench-daemons/docker

stop_pid() { # name pidfile
	local pid
	[ -f "$2" ] || return 0
	pid=$(cat "$2")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
		echo "stopped $1 (pid $pid)"
	fi
	rm -f "$2"
}

if [ "${1:-}" = stop ]; then
	stop_pid dockerd "$dir/dockerd.pid"
	stop_pid containerd "$dir/containerd.pid"
	# Shims of containers the daemons still ran, and dockerd's mounts, must not outlive them.
	grep -o " $dir/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" || true; done || true
	grep -o " $exec_root[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" || true; done || true
	exit 0
fi

for bin in containerd dockerd ctr; do
	command -v "$bin" >/dev/null || { echo "$bin not found: apt-get install containerd docker.io" >&2; exit 1; }
done
mkdir -p "$dir" "$(dirname "$ctrd_sock")" "$(dirname "$docker_sock")" "$exec_root"

wait_for() { # what command...
	local what=$1; shift
	for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "$what did not come up; its log:" >&2
	tail -n 30 "$dir/$what.log" >&2
	exit 1
}

# detached, run in the background (&), becomes a daemon in its own session holding no
# descriptor of this script's beyond stdio: a daemon that inherited, say, the descriptor
# of a lock taken around this script (flock) would hold that lock for as long as it runs.
# It execs in place, so $! is the daemon's pid.
detached() {
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
	done
	exec setsid "$@"
}

if ctr --address "$ctrd_sock" version >/dev/null 2>&1; then
	echo "containerd already running at $ctrd_sock"
else
	cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
# isobench talks to containerd directly; the CRI plugin would only add start-up work.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctrd_sock"
EOF
	detached containerd --config "$dir/containerd.toml" >"$dir/containerd.log" 2>&1 </dev/null &
	echo $! >"$dir/containerd.pid"
	wait_for containerd ctr --address "$ctrd_sock" version
	echo "started containerd (pid $(cat "$dir/containerd.pid")), log $dir/containerd.log"
fi

if curl -sf --unix-socket "$docker_sock" http://docker/_ping >/dev/null 2>&1; then
	echo "dockerd already running at unix://$docker_sock"
else
	# Runtimes with arguments can only be given in daemon.json, so all of them are there.
	# runsc releases before 2024 take every network namespace for the host's on newer
	# kernels ("cannot run with network enabled in root network namespace"): such a runsc
	# runs with --network=host, the host kernel's stack inside the container's namespace,
	# as isobench's oci driver does (recorded as stack host-kernel-via-runsc).
	runsc_args='"--platform=ptrace"'
	runsc_version=$(runsc --version 2>/dev/null || true)
	if grep -Eq 'version (0\.0~|release-)20(1|2[0-3])' <<<"$runsc_version"; then
		runsc_args='"--platform=ptrace", "--network=host"'
	fi
	cat >"$dir/daemon.json" <<EOF
{
  "runtimes": {
    "crun": {"path": "$(command -v crun || echo /usr/bin/crun)"},
    "runsc": {"path": "$(command -v runsc || echo /usr/bin/runsc)", "runtimeArgs": [$runsc_args]}
  }
}
EOF
	detached dockerd --config-file "$dir/daemon.json" \
		--data-root "$dir/docker" --exec-root "$exec_root" --pidfile "$dir/dockerd.pid" \
		--host "unix://$docker_sock" --containerd "$ctrd_sock" \
		--bip 198.18.255.1/24 --default-address-pool base=198.19.0.0/16,size=24 \
		--iptables=true >"$dir/dockerd.log" 2>&1 </dev/null &
	wait_for dockerd curl -sf --unix-socket "$docker_sock" http://docker/_ping
	echo "started dockerd (pid $(cat "$dir/dockerd.pid")), log $dir/dockerd.log"
fi

echo "CONTAINERD_SOCKET=$ctrd_sock"
echo "DOCKER_HOST=unix://$docker_sock"
echo "export ISOBENCH_CONTAINERD_SOCKET=$ctrd_sock ISOBENCH_DOCKER_HOST=unix://$docker_sock"
