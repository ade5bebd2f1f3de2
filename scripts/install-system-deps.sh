#!/usr/bin/env bash
# Debian packages the tests need beyond Python and npm: chromium (the viewer
# is tested in a real browser) and docker-compose (validates docker-compose.yml;
# no Docker engine is needed). Without root the tests that need them skip.
#
# --docker (make test-docker): a Docker engine that this user can use instead:
# docker.io where dockerd is missing, the daemon started where it is not
# running, and Compose (v2's `docker compose`, else Debian's docker-compose).
set -euo pipefail

log() { echo "install-system-deps: $*" >&2; }

install() {
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

have_compose() {
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1
}

start_dockerd() {
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else
    local log_file=/var/log/dockerd.log
    log "starting dockerd (log: $log_file)"
    setsid dockerd >"$log_file" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  log "ERROR: dockerd did not come up within 60 s"
  [ -f /var/log/dockerd.log ] && tail -n 20 /var/log/dockerd.log >&2
  exit 1
}

docker_engine() {
  if docker info >/dev/null 2>&1 && have_compose; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "not root and no usable Docker engine or Compose: the docker tests will skip"
    return 0
  fi
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  have_compose || missing+=(docker-compose)
  [ ${#missing[@]} -eq 0 ] || install "${missing[@]}"
  docker info >/dev/null 2>&1 || start_dockerd
  log "Docker $(docker info --format '{{.ServerVersion}}, storage {{.Driver}}') is ready"
}

if [ "${1:-}" = "--docker" ]; then
  docker_engine
  exit 0
fi

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  log "not root; missing ${missing[*]} (the tests that need them will skip)"
  exit 0
fi
install "${missing[@]}"
