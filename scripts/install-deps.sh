#!/usr/bin/env bash
# Installs what building and testing camstream needs on Debian 12, and nothing that is already there:
# OpenCV and the real peers the tests talk to (ffmpeg, Xvfb, Chromium, promtool, Python's OpenCV), Docker's engine
# and compose, and the local base images the Dockerfiles start from when no registry can be reached.
# Safe to run again: every step checks first. Needs root (or sudo) only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config git make ca-certificates
  libopencv-dev                         # gocv v0.31.0 builds against Debian's OpenCV 4.6
  ffmpeg                                # test videos; ffprobe reads /stream.mjpg
  xvfb xdotool x11-utils imagemagick    # the viewer window under a real X server
  python3-opencv                        # the seed's protocol in the benchmark; OpenCV's VideoCapture(url) peer
  chromium                              # the web viewer in a real browser
  prometheus                            # promtool checks /metrics
  docker.io docker-compose debootstrap  # images and the compose demo
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "install-deps: Go 1.26 is required (https://go.dev/dl/)" >&2; exit 1; }
go mod download

# Docker: an engine that answers, compose v2 beside Debian's v1, and the base images (built locally when missing).
[ -x scripts/docker-engine.sh ] && scripts/docker-engine.sh
[ -x scripts/compose-v2.sh ] && scripts/compose-v2.sh
[ -x scripts/base-images.sh ] && scripts/base-images.sh
echo "install-deps: ready"
