#!/usr/bin/env bash
# scripts/docker-engine.sh — make sure a Docker engine answers.
#
# If `docker info` already works, exits 0 at once. Otherwise, when dockerd is
# installed (Debian: apt-get install docker.io) and we are root, starts it in
# the background (log: $DOCKERD_LOG, default /tmp/dockerd.log) — through
# systemd when systemd runs, else directly — and waits up to
# $DOCKER_ENGINE_WAIT seconds (default 60) for it to answer.
# Exits non-zero with a message saying why when no engine can be had.
#
# Usage: scripts/docker-engine.sh            (CI: run it before the tests)
set -euo pipefail

WAIT=${DOCKER_ENGINE_WAIT:-60}
LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
say() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { printf '[docker-engine] ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH (Debian: apt-get install docker.io)"

answers() { timeout 20 docker info >/dev/null 2>&1; }

if answers; then
  say "engine answers: $(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?')"
  exit 0
fi

if [[ -n ${DOCKER_HOST:-} && ${DOCKER_HOST} != unix:///var/run/docker.sock ]]; then
  die "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine for a remote one"
fi

DOCKERD=$(command -v dockerd || true)
[[ -n $DOCKERD ]] || die "no Docker engine answers and dockerd is not installed (Debian: apt-get install docker.io)"
[[ $(id -u) == 0 ]] || die "no Docker engine answers; dockerd is installed but starting it needs root (sudo $0)"

if pgrep -x dockerd >/dev/null 2>&1; then
  say "dockerd is running but does not answer yet; waiting"
elif [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 \
     && systemctl start docker >/dev/null 2>&1; then
  say "started docker.service"
else
  say "starting $DOCKERD (log: $LOG)"
  nohup "$DOCKERD" >>"$LOG" 2>&1 </dev/null &
fi

for ((i = 0; i < WAIT; i++)); do
  if answers; then
    say "engine answers after ${i}s: $(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?')"
    exit 0
  fi
  sleep 1
done
tail -n 20 "$LOG" >&2 2>/dev/null || true
die "dockerd did not answer within ${WAIT}s (see $LOG)"
