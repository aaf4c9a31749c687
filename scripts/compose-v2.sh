#!/usr/bin/env bash
# scripts/compose-v2.sh — make `docker compose` (Compose v2, CLI plugin)
# available when only Debian's docker-compose v1 is packaged.
#
# Debian 12 packages docker.io 20.10 and docker-compose 1.29 but not the
# Compose v2 plugin, and release binaries cannot be downloaded here. Compose
# v2 is a Go module, so it is built from the Go module proxy with the local Go
# toolchain (about 2 minutes on an idle 2-core machine, longer under load) and installed as a CLI plugin:
#   GOBIN=$tmp go install github.com/docker/compose/v2/cmd@v2.29.7
#   install $tmp/cmd /usr/local/lib/docker/cli-plugins/docker-compose
# Idempotent: does nothing when `docker compose version` already works.
#
# Usage: sudo scripts/compose-v2.sh [--force]
# Environment: COMPOSE_V2_VERSION (default v2.29.7),
#              DOCKER_CLI_PLUGINS_DIR (default /usr/local/lib/docker/cli-plugins)
set -euo pipefail

VERSION=${COMPOSE_V2_VERSION:-v2.29.7}
PLUGINS_DIR=${DOCKER_CLI_PLUGINS_DIR:-/usr/local/lib/docker/cli-plugins}
log() { printf '[compose-v2] %s\n' "$*" >&2; }
die() { printf '[compose-v2] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} != --force ]] && docker compose version >/dev/null 2>&1; then
  log "already installed: $(docker compose version 2>/dev/null | head -n1)"
  exit 0
fi

GO=$(command -v go || true)
[[ -n $GO ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; }
[[ -n $GO ]] || die "Go toolchain not found (needed to build Compose $VERSION)"

tmp=$(mktemp -d /tmp/compose-v2.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log "building github.com/docker/compose/v2/cmd@$VERSION (a few minutes)"
GOBIN="$tmp" CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false "$GO" install \
  -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$VERSION" \
  "github.com/docker/compose/v2/cmd@$VERSION"
mkdir -p "$PLUGINS_DIR"
install -m 755 "$tmp/cmd" "$PLUGINS_DIR/docker-compose"
docker compose version >/dev/null 2>&1 \
  || die "installed $PLUGINS_DIR/docker-compose but \`docker compose version\` fails (does this docker CLI look in $PLUGINS_DIR?)"
log "installed: $(docker compose version | head -n1)"
