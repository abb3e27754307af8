#!/usr/bin/env bash
# Builds the binaries of isobench's local Kubernetes cluster from the Go module proxy (there is no
# registry and Debian 12 ships no Kubernetes): kube-apiserver, kube-controller-manager,
# kube-scheduler and kubelet from k8s.io/kubernetes, and gVisor's containerd shim. Everything is
# cached under $ISOBENCH_K8S_CACHE/<version>, so a second run only checks that the binaries are there.
#
#   scripts/k8s/build.sh            build what is missing, print the bin directory on the last line
#   ISOBENCH_K8S_JOBS=1 nice -n 15 scripts/k8s/build.sh    (the build is long: ~13 min on one core)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin

k8s_version=${ISOBENCH_K8S_VERSION:-v1.34.4}
# gVisor's shim from the same module version as the runsc install-deps.sh builds.
gvisor_module=${ISOBENCH_GVISOR_MODULE:-v0.0.0-20260905035102-160fafc42237}
cache=${ISOBENCH_K8S_CACHE:-/var/cache/isobench-k8s}
top=$cache/$k8s_version
bin=$top/bin
components=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

case $k8s_version in v1.*.*) ;; *) echo "build.sh: ISOBENCH_K8S_VERSION must look like v1.34.4, not $k8s_version" >&2; exit 2;; esac
staging_version=v0.${k8s_version#v1.}

mkdir -p "$bin" "$top/build" "$top/shimbuild"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
export GOCACHE=${ISOBENCH_K8S_GOCACHE:-$top/gocache}
jobs=${ISOBENCH_K8S_JOBS:-}
pflag=()
[ -n "$jobs" ] && pflag=(-p "$jobs")

missing=()
for c in "${components[@]}"; do [ -x "$bin/$c" ] || missing+=("$c"); done

if [ ${#missing[@]} -gt 0 ]; then
  # A wrapper module: k8s.io/kubernetes replaces its staging modules with ./staging paths that
  # only exist in its own repository, so each is pinned to the release of the same minor here.
  cd "$top/build"
  go mod download -json "k8s.io/kubernetes@$k8s_version" > kubernetes.json
  kmod=$(go env GOMODCACHE)/k8s.io/kubernetes@$k8s_version/go.mod
  [ -f "$kmod" ] || { echo "build.sh: k8s.io/kubernetes@$k8s_version has no go.mod in the module cache" >&2; exit 1; }
  {
    echo 'module isobench.local/k8sbuild'; echo
    echo 'go 1.24.0'; echo
    echo "require k8s.io/kubernetes $k8s_version"; echo
    echo 'replace ('
    grep -E '=> \./staging/' "$kmod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ')'
  } > go.mod
  {
    echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
    for c in "${components[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ')'
  } > tools.go
  go mod tidy
  ld="-s -w"
  minor=${k8s_version#v1.}; minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for c in "${missing[@]}"; do
    s=$(date +%s)
    go build "${pflag[@]}" -trimpath -ldflags "$ld" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$bin/$c.tmp" "$bin/$c"
    echo "built $c in $(( $(date +%s) - s ))s" >&2
  done
fi

if [ ! -x "$bin/containerd-shim-runsc-v1" ]; then
  # gVisor's shim, with two one-line changes for this kind of host:
  #  - it lowers its own oom_score_adj to -999, which fails where root lacks CAP_SYS_RESOURCE;
  #    0 keeps the shim as killable as any process;
  #  - it answers the shim bootstrap with containerd 2's JSON, which containerd 1.6 (Debian 12)
  #    reads as a socket address; containerd 1.6 wants the bare address.
  cd "$top/shimbuild"
  printf 'module isobench.local/shimbuild\n\ngo 1.24.0\n\nrequire gvisor.dev/gvisor %s\n' "$gvisor_module" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "gvisor.dev/gvisor/shim"\n' > tools.go
  go mod tidy
  rm -rf vendor
  go mod vendor
  manager=vendor/gvisor.dev/gvisor/pkg/shim/v1/manager.go
  grep -q '^	oomScoreMax = -999$' "$manager" || { echo "build.sh: gVisor shim: oomScoreMax line not found in $manager" >&2; exit 1; }
  sed -i 's/^	oomScoreMax = -999$/	oomScoreMax = 0/' "$manager"
  shim=vendor/github.com/containerd/containerd/v2/pkg/shim/shim.go
  n=$(grep -c 'return fmt.Errorf("failed to marshal bootstrap params to json: %w", err)' "$shim" || true)
  [ "$n" = 1 ] || { echo "build.sh: gVisor shim: bootstrap marshal line not found once in $shim" >&2; exit 1; }
  awk '{print} /return fmt.Errorf\("failed to marshal bootstrap params to json: %w", err\)/ {getline; print; print "\t\tdata = []byte(params.Address)"}' "$shim" > "$shim.new"
  mv "$shim.new" "$shim"
  GOFLAGS=-mod=vendor go build "${pflag[@]}" -trimpath -ldflags '-s -w' -o "$bin/containerd-shim-runsc-v1.tmp" gvisor.dev/gvisor/shim
  mv "$bin/containerd-shim-runsc-v1.tmp" "$bin/containerd-shim-runsc-v1"
  echo "built containerd-shim-runsc-v1" >&2
fi

echo "$bin"
