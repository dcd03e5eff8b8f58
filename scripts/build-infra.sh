#!/usr/bin/env bash
# Builds the real components the tests run (Kubernetes control plane, etcd, kwok,
# OpenTelemetry Collector, telemetrygen, helm) from the Go module proxy into a cache
# outside the repository. A component is rebuilt only when its folder is missing.
#
# Usage: scripts/build-infra.sh [component ...]   (default: all)
# Prints the cache folder of each component on stdout as NAME=PATH lines.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
OTELCOL_VERSION=${OTELCOL_VERSION:-0.159.0}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
# telemetrygen has no v0.159.0 on the module proxy; the next release is the closest.
TELEMETRYGEN_VERSION=${TELEMETRYGEN_VERSION:-0.160.0}

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${CXJ_CACHE:-$HOME/.cache/cxjourney}
bin=$cache/bin
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
mkdir -p "$bin"
# One build at a time: parallel test sessions or make targets wait rather than race.
exec 9>"$cache/.build.lock"
flock 9

log() { printf '[build-infra %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Runs a build into a temporary folder and renames it into place only on success, so
# an interrupted build never leaves a folder that looks complete.
finish() { mv "$1" "$2"; log "ready: $2"; }

build_kubernetes() {
  local out=$bin/kubernetes-$K8S_VERSION
  [ -d "$out" ] && { echo "kubernetes=$out"; return; }
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION (cold: tens of minutes on 2 cores)"
  local work; work=$(mktemp -d)
  local gomod minor
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  {
    echo "module cxjourney.dev/infra/kubernetes"
    echo
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug ' "$gomod" | head -1
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # Each staging module is published as v0.<minor>.<patch>.
    grep -E '=> \./staging/' "$gomod" | awk -v v="v0.${K8S_VERSION#v1.}" \
      '{print "replace " $1 " => " $1 " " v}'
  } > "$work/go.mod"
  cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  local ver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ver="$ver -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (cd "$work" && go mod tidy -e >/dev/null 2>&1 || true
   cd "$work" && go mod download
   mkdir -p "$work/out"
   go build -trimpath -tags selinux,notest -ldflags "-s -w $ver" -o "$work/out/" \
     k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
     k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  finish "$work/out" "$out"
  rm -rf "$work"
  echo "kubernetes=$out"
}

build_etcd() {
  local out=$bin/etcd-$ETCD_VERSION
  [ -d "$out" ] && { echo "etcd=$out"; return; }
  log "building etcd $ETCD_VERSION"
  local work; work=$(mktemp -d)
  local gomod
  gomod=$(cd "$work" && go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module cxjourney.dev/infra/etcd"
    echo
    grep -E '^go [0-9]' "$gomod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo
    grep -E '=> \.\./' "$gomod" | awk -v v="$ETCD_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } > "$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "$work/tools.go"
  (cd "$work" && go mod tidy -e >/dev/null 2>&1 || true
   mkdir -p "$work/out"
   go build -trimpath -ldflags "-s -w" -o "$work/out/etcd" go.etcd.io/etcd/server/v3)
  finish "$work/out" "$out"
  rm -rf "$work"
  echo "etcd=$out"
}

build_kwok() {
  local out=$bin/kwok-$KWOK_VERSION
  [ -d "$out" ] && { echo "kwok=$out"; return; }
  log "building kwok $KWOK_VERSION"
  local work; work=$(mktemp -d)
  GOBIN=$work/out go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok has no built-in stages; ship the ones its module defines next to the binary.
  local src; src=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION
  mkdir -p "$work/out/stages"
  for f in kustomize/stage/node/fast/node-initialize.yaml kustomize/stage/node/heartbeat/node-heartbeat.yaml \
           kustomize/stage/pod/fast/pod-ready.yaml kustomize/stage/pod/fast/pod-complete.yaml \
           kustomize/stage/pod/fast/pod-delete.yaml; do
    [ -f "$src/$f" ] && cp "$src/$f" "$work/out/stages/"
  done
  chmod -R u+w "$work/out"
  finish "$work/out" "$out"
  rm -rf "$work"
  echo "kwok=$out"
}

build_otelcol() {
  local out=$bin/otelcol-cxj-$OTELCOL_VERSION
  [ -d "$out" ] && { echo "otelcol=$out"; return; }
  log "building the OpenTelemetry Collector $OTELCOL_VERSION with the collector builder"
  local work; work=$(mktemp -d)
  GOBIN=$work/tools go install "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
  sed "s/@OTELCOL_VERSION@/$OTELCOL_VERSION/g" "$repo/scripts/otelcol-builder.yaml" > "$work/manifest.yaml"
  (cd "$work" && "$work/tools/builder" --config manifest.yaml --skip-strict-versioning >&2)
  mkdir -p "$work/out"
  cp "$work/build/otelcol-cxj" "$work/out/"
  finish "$work/out" "$out"
  rm -rf "$work"
  echo "otelcol=$out"
}

build_telemetrygen() {
  local out=$bin/telemetrygen-$TELEMETRYGEN_VERSION
  [ -d "$out" ] && { echo "telemetrygen=$out"; return; }
  log "building telemetrygen $TELEMETRYGEN_VERSION"
  local work; work=$(mktemp -d)
  GOBIN=$work/out go install -trimpath -ldflags "-s -w" \
    "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v$TELEMETRYGEN_VERSION"
  finish "$work/out" "$out"
  rm -rf "$work"
  echo "telemetrygen=$out"
}

build_helm() {
  local out=$bin/helm-$HELM_VERSION
  [ -d "$out" ] && { echo "helm=$out"; return; }
  log "building helm $HELM_VERSION"
  local work; work=$(mktemp -d)
  GOBIN=$work/out go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  finish "$work/out" "$out"
  rm -rf "$work"
  echo "helm=$out"
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kwok otelcol telemetrygen kubernetes helm)
for c in "${components[@]}"; do
  "build_$c"
done
