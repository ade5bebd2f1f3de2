#!/usr/bin/env bash
# The base images the Dockerfile starts FROM: python:3.11-slim-bookworm and
# node:20-slim. Each one already present is kept; a missing one is pulled.
#
# The air-gapped path: where no image registry can be reached but Debian's
# packages, PyPI and npm can (a build farm behind a proxy, a mirror-only
# network), a base that cannot be pulled is built here as a stand-in, from
# Debian bookworm's packages with debootstrap (root needed):
#   python:3.11-slim-bookworm  Debian's python3.11 with venv and pip, `python`
#                              on PATH, pip allowed to install system-wide;
#   node:20-slim               the same with Debian's nodejs and npm (Node 18).
# Both trust this host's CA certificates and get the parts of its pip and npm
# settings that point at registries (never credentials), so builds inside
# reach PyPI and npm the way this host does.
#
#   scripts/docker-base-images.sh              pull, or build what cannot be pulled
#   STAND_IN=always scripts/docker-base-images.sh   build stand-ins without trying to pull
#   DEBIAN_MIRROR=http://mirror.example/debian ...  (default http://deb.debian.org/debian)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON_BASE=python:3.11-slim-bookworm
NODE_BASE=node:20-slim
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STAND_IN="${STAND_IN:-auto}"

# temporary folders, removed however the script ends
scratch=()
trap 'rm -rf "${scratch[@]}"' EXIT

log() { echo "docker-base-images: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The Dockerfile must start from nothing else: a new base would otherwise be
# pulled (and fail) in the middle of a build, with no stand-in for it.
check_dockerfile_bases() {
    local base
    for base in $(awk 'toupper($1) == "FROM" { from[$2] = 1; if (toupper($3) == "AS") stage[$4] = 1 }
                      END { for (f in from) if (!(f in stage)) print f }' "$repo/Dockerfile"); do
        [[ "$base" == "$PYTHON_BASE" || "$base" == "$NODE_BASE" ]] \
            || die "Dockerfile starts FROM $base, which this script has no stand-in for"
    done
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

pull() {
    [[ "$STAND_IN" == always ]] && return 1
    log "pulling $1"
    timeout 300 docker pull -q "$1" >/dev/null 2>&1
}

# --- stand-ins ----------------------------------------------------------------

# What a container needs to reach PyPI and npm as this host does: its trusted
# CA certificates (a proxy's own CA among them) and the registry settings.
copy_host_trust() {
    local root="$1" crt
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [[ -e "$crt" ]] && cp "$crt" "$root/usr/local/share/ca-certificates/"
    done
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the stand-in"
}

# /etc/pip.conf from this host's pip settings, only those that mean the same
# inside a container: http(s) indexes, trusted hosts and the timeout. Local
# folders (file:// indexes, find-links) are this host's; the image's pip
# reaches PyPI itself. pip's own CA bundle is replaced by the system's.
pip_conf() {
    local line key value url
    declare -A settings=([cert]=/etc/ssl/certs/ca-certificates.crt)
    while IFS= read -r line; do
        key="${line%%=*}"; key="${key##*.}"
        value="${line#*=}"; value="${value#\'}"; value="${value%\'}"
        case "$key" in
            index-url | extra-index-url)
                local urls=()
                for url in $value; do [[ "$url" == http* ]] && urls+=("$url"); done
                (( ${#urls[@]} )) && settings[$key]="${urls[*]}"
                ;;
            trusted-host | timeout) settings[$key]="$value" ;;
            default-timeout) settings[timeout]="$value" ;;
        esac
    done < <(python3 -m pip config list 2>/dev/null)
    echo "[global]"
    for key in "${!settings[@]}"; do echo "$key = ${settings[$key]}"; done
}

# npm's registry and CA file, the same way.
npmrc() {
    echo "cafile=/etc/ssl/certs/ca-certificates.crt"
    local registry
    registry="$(npm config get registry 2>/dev/null || true)"
    [[ "$registry" == http* ]] && echo "registry=$registry"
    echo "fund=false"
    echo "audit=false"
    echo "update-notifier=false"
}

# Like debian:bookworm-slim: no manuals, docs (copyrights kept) or translations,
# now or from packages installed later; apt's lists and downloads removed.
slim_down() {
    local root="$1"
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,info,lintian}/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
        "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
}

debian_sources() {
    cat <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

build_python_stand_in() {
    [[ "$(id -u)" -eq 0 ]] || die "building the stand-in $PYTHON_BASE needs root (debootstrap, chroot)"
    command -v debootstrap >/dev/null 2>&1 || {
        log "installing debootstrap"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
    }
    local root
    root="$(mktemp -d /var/tmp/live2d-pose-rootfs.XXXXXX)"
    scratch+=("$root" "$root.log")
    log "debootstrap bookworm from $MIRROR (about a minute)"
    if ! debootstrap --variant=minbase --include=ca-certificates,python3.11,python3.11-venv,python3-pip \
            bookworm "$root" "$MIRROR" >"$root.log" 2>&1; then
        tail -n 20 "$root.log" >&2
        die "debootstrap failed (log above; is $MIRROR reachable?)"
    fi
    rm -f "$root.log" "$root/etc/apt/sources.list"
    debian_sources >"$root/etc/apt/sources.list.d/debian.sources"
    # As in the real image: `python` on PATH, and pip may install outside a venv.
    ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python"
    rm -f "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED
    copy_host_trust "$root"
    pip_conf >"$root/etc/pip.conf"
    slim_down "$root"
    log "importing $PYTHON_BASE (stand-in)"
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --message "stand-in for $PYTHON_BASE: debootstrap bookworm (scripts/docker-base-images.sh)" \
        - "$PYTHON_BASE" >/dev/null
}

# Debian's nodejs and npm on the python stand-in (the two share its layer).
build_node_stand_in() {
    log "building $NODE_BASE (stand-in) on $PYTHON_BASE with Debian's nodejs and npm"
    local context
    context="$(mktemp -d)"
    scratch+=("$context")
    npmrc >"$context/npmrc"
    cat >"$context/Dockerfile" <<EOF
FROM $PYTHON_BASE
RUN apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm >/dev/null \\
    && rm -rf /var/lib/apt/lists/*
COPY npmrc /etc/npmrc
CMD ["node"]
EOF
    docker build -q -t "$NODE_BASE" "$context" >/dev/null
}

# A stand-in must do what the builds need: reach PyPI (and npm) over TLS.
verify() {
    log "checking that $PYTHON_BASE reaches PyPI"
    docker run --rm "$PYTHON_BASE" sh -c 'python -m venv /tmp/v && pip download -q --no-deps -d /tmp/d msgpack' \
        || die "$PYTHON_BASE cannot download from PyPI (CA certificates, pip.conf or network)"
    log "checking that $NODE_BASE reaches npm"
    docker run --rm "$NODE_BASE" npm view --silent esbuild version >/dev/null \
        || die "$NODE_BASE cannot reach the npm registry (CA certificates, npmrc or network)"
}

main() {
    command -v docker >/dev/null 2>&1 || die "docker is not installed"
    docker info >/dev/null 2>&1 || die "the Docker daemon is not running (or this user may not use it)"
    check_dockerfile_bases
    local built=0
    if ! have_image "$PYTHON_BASE" && ! pull "$PYTHON_BASE"; then
        log "$PYTHON_BASE cannot be pulled: building a stand-in"
        build_python_stand_in
        built=1
    fi
    if ! have_image "$NODE_BASE" && ! pull "$NODE_BASE"; then
        log "$NODE_BASE cannot be pulled: building a stand-in"
        build_node_stand_in
        built=1
    fi
    (( built )) && verify
    log "ready: $PYTHON_BASE, $NODE_BASE"
}

main "$@"
