#!/usr/bin/env bash
# Creates the kind cluster from kind-config.yaml, builds the testbed image, loads it into the nodes and applies
# the manifests in deploy/ (namespace, RBAC, config API, controller, vrouter agent DaemonSet), after creating
# the config API's identity Secret (random admin password) if the cluster has none.
# Needs docker, kind and kubectl on PATH (users' machines; no Docker engine runs on the project's CI).
#
#   bash deploy/kind-up.sh            # cluster "contrail"
#   KIND_CLUSTER=dev bash deploy/kind-up.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER:-contrail}"
image="contrail-k8s-testbed:dev"
cd "$root" # kind-config.yaml's hostPaths are relative to the repository root

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "kind-up.sh: '$tool' is not on PATH" >&2; exit 1; }
done

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "kind-up.sh: cluster '$cluster' exists; reusing it (kind delete cluster --name $cluster to start over)" >&2
else
  kind create cluster --name "$cluster" --config kind-config.yaml
fi
context="kind-$cluster"

docker build -f deploy/Dockerfile -t "$image" .
kind load docker-image --name "$cluster" "$image"

kubectl --context "$context" apply -f deploy/00-namespace.yaml
# The config API requires authentication (it listens on the node's network): its identity, with a random admin
# password made here once and kept in the cluster (never in the repository).
if ! kubectl --context "$context" -n contrail get secret contrail-api-identity >/dev/null 2>&1; then
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  kubectl --context "$context" -n contrail create secret generic contrail-api-identity \
    --from-literal=admin-password="$password" \
    --from-literal=identity.yaml="$(printf 'users:\n  admin: { password: "%s", roles: { admin: [admin] } }\n' "$password")"
fi
kubectl --context "$context" apply -f deploy/
kubectl --context "$context" -n contrail rollout status deployment/contrail-api --timeout=180s
kubectl --context "$context" -n contrail rollout status deployment/contrail-kube-manager --timeout=180s
kubectl --context "$context" -n contrail rollout status daemonset/contrail-vrouter-agent --timeout=300s
echo "kind-up.sh: ready; try: kubectl --context $context get nodes -o wide" >&2
