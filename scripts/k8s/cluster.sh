#!/usr/bin/env bash
# A single-node Kubernetes on this machine for isobench's Kubernetes driver and its tests, with
# no container registry: etcd (Debian etcd-server), kube-apiserver, kube-controller-manager,
# kube-scheduler and kubelet (built by scripts/k8s/build.sh), a private containerd CRI with its
# own state, a CNI bridge with host-local addresses, a pause image built here, and the
# RuntimeClasses runc and gvisor. PodLogsQuerySplitStreams is on, so that clients read a
# container's stdout and stderr apart.
#
#   scripts/k8s/cluster.sh up       build (cached) and start; prints the kubeconfig
#   scripts/k8s/cluster.sh down     stop and remove everything up started (also after a failed up)
#   scripts/k8s/cluster.sh status   exit 0 when the cluster answers and its node is Ready
#   scripts/k8s/cluster.sh apiserver-stop|apiserver-start   for fault tests
#
# The cluster keeps out of isobench's way: nothing it makes is named isobench-* or isb*, its
# runtimes keep their state under $dir (not /run/runc or /var/run/runsc), its pod network
# namespaces live in containerd's state directory (not /var/run/netns), so other tests'
# "nothing left on the host" checks and `isobench cleanup` do not see it.
#
# Environment: ISOBENCH_CLUSTER_DIR (default /var/lib/k8s-local), ISOBENCH_CLUSTER_SUBNET
# (pods, default 198.18.224.0/24), and build.sh's ISOBENCH_K8S_* variables.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

here=$(cd "$(dirname "$0")" && pwd)
dir=${ISOBENCH_CLUSTER_DIR:-/var/lib/k8s-local}
pod_subnet=${ISOBENCH_CLUSTER_SUBNET:-198.18.224.0/24}
# Service addresses are only written into objects (no kube-proxy here), never routed.
service_subnet=198.18.225.0/24
service_ip=198.18.225.1
bridge=k8sloc0
cgroup_root=k8s-local
etcd_port=23790
etcd_peer_port=23800
apiserver_port=6443
pki=$dir/pki
run=$dir/run
state=$dir/state
logs=$dir/logs
conf=$dir/etc
node=$(hostname | tr 'A-Z' 'a-z')
kubeconfig=$pki/admin.kubeconfig
runsc_bin=${RUNSC:-/usr/local/bin/runsc}
[ -x "$runsc_bin" ] || runsc_bin=$(command -v runsc || true)

case $pod_subnet in 198.1[89].*.0/24) ;; *) echo "cluster.sh: ISOBENCH_CLUSTER_SUBNET must be a /24 inside 198.18.0.0/15, not $pod_subnet" >&2; exit 2;; esac
gateway=${pod_subnet%.0/24}.1
case $dir in /?*/?*) ;; *) echo "cluster.sh: ISOBENCH_CLUSTER_DIR must be an absolute path two levels deep, not $dir" >&2; exit 2;; esac
[ "$(id -u)" -eq 0 ] || { echo "cluster.sh: run it as root" >&2; exit 2; }

log() { echo "cluster: $*" >&2; }

kubeapi() { # path: GET through the admin client certificate
	curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "https://127.0.0.1:$apiserver_port$1"
}

kubeapply() { # path json: POST an object as admin (conflict = already there)
	local code
	code=$(curl -sS --max-time 10 -o "$run/apply.out" -w '%{http_code}' --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
		-H 'Content-Type: application/json' -X POST --data-binary "$2" "https://127.0.0.1:$apiserver_port$1")
	case $code in 200|201|409) ;; *) log "POST $1 answered $code: $(cat "$run/apply.out")"; return 1;; esac
}

wait_for() { # what seconds command...
	local what=$1 secs=$2; shift 2
	local i
	for i in $(seq $((secs * 5))); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	log "$what did not come up within ${secs}s; the end of its log:"
	tail -n 20 "$logs/$what.log" >&2 || true
	return 1
}

start() { # name command...: a daemon in its own session, stopped by down through its pid file
	local name=$1; shift
	# Only stdin, stdout and stderr go along: an inherited descriptor (a caller's
	# `flock /tmp/isobench-host.lock`) would be held for as long as the daemon runs.
	(
		for f in /proc/$BASHPID/fd/*; do
			fd=${f##*/}
			if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
		done
		exec setsid "$@" >"$logs/$name.log" 2>&1 </dev/null
	) &
	echo $! >"$run/$name.pid"
}

gen_pki() {
	mkdir -p "$pki"
	(
		cd "$pki"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=k8s-local-ca" 2>/dev/null
		cert() { # name subject [subjectAltName]
			local n=$1 subj=$2 san=${3:-}
			openssl req -newkey rsa:2048 -nodes -keyout "$n.key" -out "$n.csr" -subj "$subj" 2>/dev/null
			{
				echo "basicConstraints=CA:FALSE"
				echo "keyUsage=critical,digitalSignature,keyEncipherment"
				if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
				else echo "extendedKeyUsage=clientAuth"; fi
			} >"$n.ext"
			openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$n.crt" -days 3650 -extfile "$n.ext" 2>/dev/null
			rm -f "$n.csr" "$n.ext"
		}
		cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:$service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
		cert admin "/O=system:masters/CN=admin"
		cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
		cert controller-manager "/CN=system:kube-controller-manager"
		cert scheduler "/CN=system:kube-scheduler"
		cert kubelet-client "/O=system:nodes/CN=system:node:$node"
		cert kubelet-server "/CN=$node" "IP:127.0.0.1,IP:$gateway,DNS:$node,DNS:localhost"
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		for kc in admin:admin:admin controller-manager:system:kube-controller-manager:controller-manager \
			scheduler:system:kube-scheduler:scheduler kubelet:system:node:$node:kubelet-client; do
			local file=${kc%%:*} rest=${kc#*:}
			local user=${rest%:*} certname=${rest##*:}
			cat >"$file.kubeconfig" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: k8s-local
  cluster:
    certificate-authority: $pki/ca.crt
    server: https://127.0.0.1:$apiserver_port
users:
- name: $user
  user:
    client-certificate: $pki/$certname.crt
    client-key: $pki/$certname.key
contexts:
- name: k8s-local
  context: {cluster: k8s-local, user: $user}
current-context: k8s-local
EOK
		done
		chmod 600 ./*.key
	)
}

write_config() {
	mkdir -p "$conf/cni"
	cat >"$conf/containerd.toml" <<EOC
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/local/pause:3.10"
  enable_selinux = false
  disable_apparmor = true
  # root here may lack CAP_SYS_RESOURCE: the pause container asks for oom_score_adj -998
  restrict_oom_score_adj = true
  # pod network namespaces stay out of /var/run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$conf/cni"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$state/runc-root"
        SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
      runtime_type = "io.containerd.runsc.v1"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = "$conf/runsc.toml"
EOC
	cat >"$conf/runsc.toml" <<EOC
binary_name = "$runsc_bin"
root = "$state/gvisor-root"
EOC
	cat >"$conf/cni/10-k8s-local.conflist" <<EOC
{
  "cniVersion": "0.4.0",
  "name": "k8s-local",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$pod_subnet", "gateway": "$gateway"}]],
        "dataDir": "$state/cni-ipam"
      }
    }
  ]
}
EOC
	cat >"$conf/kubelet.yaml" <<EOC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $gateway
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-server.crt
tlsPrivateKeyFile: $pki/kubelet-server.key
containerRuntimeEndpoint: unix://$run/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
podLogsDir: $state/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
rotateCertificates: false
serializeImagePulls: true
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
syncFrequency: 10s
fileCheckFrequency: 20s
featureGates:
  PodLogsQuerySplitStreams: true
EOC
}

# image_tar ref rootfs entrypoint-json out: an OCI image layout tar that `ctr images import` takes.
image_tar() {
	local ref=$1 root=$2 ep=$3 out=$4 w ld ls cd cs md ms
	w=$(mktemp -d)
	mkdir -p "$w/blobs/sha256"
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$w/layer.tar" .
	ld=$(sha256sum "$w/layer.tar" | cut -d' ' -f1); ls=$(stat -c %s "$w/layer.tar")
	mv "$w/layer.tar" "$w/blobs/sha256/$ld"
	printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ep" "$ld" >"$w/config.json"
	cd=$(sha256sum "$w/config.json" | cut -d' ' -f1); cs=$(stat -c %s "$w/config.json"); mv "$w/config.json" "$w/blobs/sha256/$cd"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" >"$w/manifest.json"
	md=$(sha256sum "$w/manifest.json" | cut -d' ' -f1); ms=$(stat -c %s "$w/manifest.json"); mv "$w/manifest.json" "$w/blobs/sha256/$md"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' "$md" "$ms" "$ref" "${ref##*:}" >"$w/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
	tar -C "$w" -cf "$out" oci-layout index.json blobs
	rm -rf "$w"
}

# pause_image: the sandbox image, from a tiny static Go program (sleeps, reaps, exits on TERM).
pause_image() {
	local b=$1/pause-build
	mkdir -p "$b/rootfs"
	cat >"$b/main.go" <<'EOG'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
EOG
	printf 'module pause\n\ngo 1.24\n' >"$b/go.mod"
	(cd "$b" && CGO_ENABLED=0 GOFLAGS= go build -trimpath -ldflags '-s -w' -o rootfs/pause .)
	image_tar docker.io/local/pause:3.10 "$b/rootfs" '["/pause"]' "$1/pause.tar"
}

sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

start_apiserver() { # bin
	local bin=$1
	start kube-apiserver "$bin/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$etcd_port" \
		--bind-address=127.0.0.1 --secure-port=$apiserver_port --advertise-address=127.0.0.1 \
		--service-cluster-ip-range=$service_subnet \
		--client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--allow-privileged=true --profiling=false --endpoint-reconciler-type=none \
		--feature-gates=PodLogsQuerySplitStreams=true
	wait_for kube-apiserver 120 kubeapi /readyz

}

up() {
	if [ -e "$run/up" ] && status >/dev/null 2>&1; then
		log "already up"; echo "$kubeconfig"; return 0
	fi
	for b in etcd containerd ctr openssl curl; do
		command -v "$b" >/dev/null || { echo "cluster.sh: $b not found: scripts/install-deps.sh installs it" >&2; exit 1; }
	done
	[ -x /usr/lib/cni/bridge ] || { echo "cluster.sh: CNI plugins not found in /usr/lib/cni: apt-get install containernetworking-plugins" >&2; exit 1; }
	[ -n "$runsc_bin" ] || { echo "cluster.sh: runsc not found: scripts/install-deps.sh installs it" >&2; exit 1; }
	local bin
	bin=$("$here/build.sh" | tail -n 1)
	# A failed up leaves nothing: down removes whatever was started so far.
	trap 'log "up failed; removing what it started"; down >/dev/null 2>&1 || true' ERR
	mkdir -p "$run" "$state" "$logs"
	touch "$run/up"
	[ -f "$run/sysctl.saved" ] || sysctl "${sysctls[@]}" 2>/dev/null | sed 's/ = /=/' >"$run/sysctl.saved"
	gen_pki
	write_config
	pause_image "$state"

	start etcd etcd --name k8s-local --data-dir "$state/etcd" --unsafe-no-fsync \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster "k8s-local=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls ""
	start containerd env PATH="$bin:$PATH" containerd --config "$conf/containerd.toml"
	wait_for containerd 30 ctr --address "$run/containerd.sock" version
	ctr --address "$run/containerd.sock" -n k8s.io images import "$state/pause.tar" >/dev/null
	wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

	start_apiserver "$bin"
	# The controller-manager and the scheduler exit at once when they cannot read this yet.
	wait_for kube-apiserver 60 kubeapi /api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication
	wait_for kube-apiserver 60 kubeapi "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings/system::extension-apiserver-authentication-reader"

	start kube-controller-manager "$bin/kube-controller-manager" \
		--kubeconfig="$pki/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$pki/controller-manager.kubeconfig" --authorization-kubeconfig="$pki/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
		--root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
		--cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
		--allocate-node-cidrs=false --profiling=false
	start kube-scheduler "$bin/kube-scheduler" \
		--kubeconfig="$pki/scheduler.kubeconfig" \
		--authentication-kubeconfig="$pki/scheduler.kubeconfig" --authorization-kubeconfig="$pki/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --profiling=false

	# The node's address is the pod bridge's gateway: inside 198.18.0.0/15, on this host only,
	# and the kubelet refuses a loopback one. The CNI bridge plugin takes the bridge as it is.
	if ! ip link show "$bridge" >/dev/null 2>&1; then
		ip link add "$bridge" type bridge
	fi
	ip addr replace "$gateway/24" dev "$bridge"
	ip link set "$bridge" up
	# cgroupRoot must exist in every v1 hierarchy the kubelet uses
	local d
	for d in /sys/fs/cgroup/*/; do
		case $d in */unified/) continue;; esac
		[ -e "${d}cgroup.procs" ] || continue
		mkdir -p "$d$cgroup_root"
	done
	if [ -f /sys/fs/cgroup/cpuset/$cgroup_root/cpuset.cpus ]; then
		cat /sys/fs/cgroup/cpuset/cpuset.cpus >/sys/fs/cgroup/cpuset/$cgroup_root/cpuset.cpus
		cat /sys/fs/cgroup/cpuset/cpuset.mems >/sys/fs/cgroup/cpuset/$cgroup_root/cpuset.mems
	fi
	start kubelet "$bin/kubelet" --config="$conf/kubelet.yaml" --kubeconfig="$pki/kubelet.kubeconfig" \
		--root-dir="$state/kubelet" --hostname-override="$node" --node-ip="$gateway" --v=1
	wait_for kubelet 120 node_ready
	wait_for kube-controller-manager 60 kubeapi /api/v1/namespaces/default/serviceaccounts/default
	kubeapply /apis/node.k8s.io/v1/runtimeclasses '{"apiVersion":"node.k8s.io/v1","kind":"RuntimeClass","metadata":{"name":"runc"},"handler":"runc"}'
	kubeapply /apis/node.k8s.io/v1/runtimeclasses '{"apiVersion":"node.k8s.io/v1","kind":"RuntimeClass","metadata":{"name":"gvisor"},"handler":"runsc"}'
	trap - ERR
	log "up in ${SECONDS}s: node $node, pods on $pod_subnet (bridge $bridge, gateway $gateway)"
	echo "$kubeconfig"
}

node_ready() {
	kubeapi "/api/v1/nodes/$node" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

status() {
	[ -f "$kubeconfig" ] || { echo "down (no $kubeconfig)"; return 1; }
	kubeapi /readyz >/dev/null || { echo "the API server does not answer"; return 1; }
	node_ready || { echo "node $node is not Ready"; return 1; }
	echo "up: KUBECONFIG=$kubeconfig"
}

pid_alive() { [ -s "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

stop_daemon() { # name: TERM, then KILL after 10 s, only the process of our pid file
	local pid i
	[ -s "$run/$1.pid" ] || return 0
	pid=$(cat "$run/$1.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$run/$1.pid"
}

down() {
	[ -d "$dir" ] || { log "nothing to stop"; return 0; }
	# Pods first, while the kubelet still stops their containers.
	if pid_alive kube-apiserver && pid_alive kubelet; then
		local ns
		for ns in $(kubeapi /api/v1/namespaces 2>/dev/null | tr -d ' \n' | grep -o '"metadata":{"name":"[^"]*"' | cut -d'"' -f6 | sort -u); do
			curl -sS --max-time 30 -o /dev/null --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
				-X DELETE "https://127.0.0.1:$apiserver_port/api/v1/namespaces/$ns/pods?gracePeriodSeconds=0" 2>/dev/null || true
		done
		for _ in $(seq 100); do
			kubeapi /api/v1/pods 2>/dev/null | tr -d ' \n' | grep -q '"items":\[\]' && break
			sleep 0.2
		done
	fi
	local c
	for c in kubelet kube-scheduler kube-controller-manager kube-apiserver; do stop_daemon "$c"; done
	# Containers the kubelet did not stop: kill their tasks through our containerd, then any
	# shim still serving our containerd (matched by our socket path) and gVisor sandboxes
	# and gofers of our runsc root.
	local ids=""
	if pid_alive containerd && [ -S "$run/containerd.sock" ]; then
		local a=(--address "$run/containerd.sock" -n k8s.io) t
		ids=$(ctr "${a[@]}" containers ls -q 2>/dev/null || true)
		for t in $(ctr "${a[@]}" tasks ls -q 2>/dev/null || true); do timeout 10 ctr "${a[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
	fi
	stop_daemon containerd
	local p
	for p in $(pgrep -f -- "-address $run/containerd.sock" || true) $(pgrep -f -- "--root=$state/gvisor-root" || true) \
		$(pgrep -f -- "--root $state/runc-root" || true); do
		kill -9 "$p" 2>/dev/null || true
	done
	stop_daemon etcd
	# containerd 1.6 keeps shim sockets in the shared /run/containerd/s, named by the
	# sha256 of <our address>/<namespace>/<id>: remove only ours.
	local id
	for id in $ids; do rm -f "/run/containerd/s/$(printf '%s' "$run/containerd.sock/k8s.io/$id" | sha256sum | cut -d' ' -f1)"; done
	grep -o " $dir/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	ip link del "$bridge" 2>/dev/null || true
	rm -f /var/lib/cni/results/k8s-local-* 2>/dev/null || true
	local h
	for h in /sys/fs/cgroup/*/; do
		[ -d "$h$cgroup_root" ] && find "$h$cgroup_root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	# The kubelet sets these (protectKernelDefaults is off); put back what up found.
	[ -f "$run/sysctl.saved" ] && sysctl -q -p "$run/sysctl.saved" >/dev/null 2>&1 || true
	rm -rf "$dir"
	log "down"
}

case ${1:-} in
up) up ;;
# Tests stop the API server mid-run and start it again (a fault isobench must survive).
apiserver-stop) stop_daemon kube-apiserver ;;
apiserver-start) start_apiserver "$("$here/build.sh" | tail -n 1)" ;;
down) down ;;
status) status ;;
*) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
