#!/usr/bin/env bash
# scripts/base-images.sh — make the two base images our Dockerfiles start FROM
# (debian:bookworm-slim and golang:1.26-bookworm) on a machine that cannot
# pull from any container registry.
#
# Air-gapped recipe (what this script does, step by step):
#   1. `docker image inspect` both tags; anything already present is kept
#      as is, so a second run takes about a second.
#   2. debian:bookworm-slim
#        debootstrap --variant=minbase bookworm ROOTFS <mirror>
#      trimmed like the official slim image (no docs/man/locales, apt
#      "docker-clean" config, policy-rc.d), then the host's apt sources and
#      the host's extra CA certificates (the ones in the host bundle
#      /etc/ssl/certs/ca-certificates.crt that Debian does not ship, e.g. a
#      TLS-intercepting proxy's CA) are copied in, and
#        tar -C ROOTFS -c . | docker import -c 'CMD ["bash"]' - debian:bookworm-slim
#      The pristine debootstrap result is cached as a tarball under
#      $CAMSTREAM_CACHE_DIR (default /var/cache/camstream), so re-creating
#      the image later takes seconds instead of minutes.
#   3. golang:1.26-bookworm
#      A generated Dockerfile FROM the image above that installs what the
#      official image has and our cgo build needs (gcc, g++, libc6-dev, make,
#      pkg-config, git, ca-certificates, curl, netbase, openssh-client,
#      procps) and copies in the host's Go toolchain (/usr/local/go, must be
#      go1.26.x), with the official image's ENV (GOLANG_VERSION,
#      GOTOOLCHAIN=local, GOPATH=/go, PATH=/go/bin:/usr/local/go/bin:...)
#      and WORKDIR /go.
#
#   4. Both finished images are also kept in $CAMSTREAM_CACHE_DIR as a
#      `docker save` archive; when they have been removed from the engine
#      (docker system prune -a) they are `docker load`ed back (same image IDs,
#      so build caches stay valid) as long as the host CA bundle and Go
#      toolchain are unchanged. --force ignores both caches but the rootfs.
#
# On a machine that can reach Docker Hub none of this is needed:
#   docker pull debian:bookworm-slim && docker pull golang:1.26-bookworm
#
# Usage: sudo scripts/base-images.sh [--force]
#   --force          re-create both images even if present (uses the cache)
# Environment:
#   DEBIAN_MIRROR        mirror for debootstrap (default: the host's apt
#                        mirror, else http://deb.debian.org/debian)
#   CAMSTREAM_CACHE_DIR  cache dir (default /var/cache/camstream)
#   GO_ROOT              Go toolchain to copy in (default /usr/local/go)
#   HOST_CA_BUNDLE       CA bundle to trust (default
#                        /etc/ssl/certs/ca-certificates.crt)
# Needs: root, docker (engine running: scripts/docker-engine.sh), debootstrap
# (apt-get install debootstrap).
set -euo pipefail

SUITE=bookworm
DEBIAN_IMAGE=debian:bookworm-slim
GOLANG_IMAGE=golang:1.26-bookworm
GO_SERIES=go1.26
CACHE_DIR=${CAMSTREAM_CACHE_DIR:-/var/cache/camstream}
GO_ROOT=${GO_ROOT:-/usr/local/go}
HOST_CA_BUNDLE=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
FORCE=0

log() { printf '[base-images] %s\n' "$*" >&2; }
die() { printf '[base-images] ERROR: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers (run scripts/docker-engine.sh first)"

if [[ $FORCE == 0 ]] && have_image "$DEBIAN_IMAGE" && have_image "$GOLANG_IMAGE"; then
  log "$DEBIAN_IMAGE and $GOLANG_IMAGE already present; nothing to do"
  exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap and the rootfs tar need it)"

ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
SAVED="$CACHE_DIR/base-images-$ARCH.tar"
# What the saved images were made from: reuse them only if it is unchanged.
fingerprint() {
  { cat "$HOST_CA_BUNDLE" 2>/dev/null; "$GO_ROOT/bin/go" env GOVERSION 2>/dev/null; echo "$DEBIAN_IMAGE $GOLANG_IMAGE"; } \
    | sha256sum | cut -d' ' -f1
}
if [[ $FORCE == 0 && -s $SAVED && -s $SAVED.fingerprint && $(cat "$SAVED.fingerprint") == "$(fingerprint)" ]]; then
  log "loading $DEBIAN_IMAGE and $GOLANG_IMAGE from $SAVED"
  if docker load -i "$SAVED" >/dev/null && have_image "$DEBIAN_IMAGE" && have_image "$GOLANG_IMAGE"; then
    log "done (from the cache)"
    exit 0
  fi
  log "loading $SAVED failed; making the images again"
fi
WORK=$(mktemp -d /tmp/camstream-base.XXXXXX)
cleanup() {
  # debootstrap may leave proc/sys mounted when it fails half way.
  for m in proc sys dev/pts dev; do
    mountpoint -q "$WORK/rootfs/$m" 2>/dev/null && umount -l "$WORK/rootfs/$m" || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- mirror: the host's Debian mirror if it has one, else deb.debian.org ----
host_mirror() {
  local f
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    # deb822: first "URIs:" of a stanza whose Suites include bookworm
    awk -v s="$SUITE" '
      /^[[:space:]]*$/ { if (u != "" && ok) { print u; exit } u=""; ok=0; next }
      /^URIs:/ { u=$2 }
      /^Suites:/ { for (i=2;i<=NF;i++) if ($i==s) ok=1 }
      END { if (u != "" && ok) print u }' /etc/apt/sources.list.d/debian.sources | head -n1
    return
  fi
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk -v s="$SUITE" '$1=="deb" && $0 ~ " "s" " { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
  done | head -n1
}
MIRROR=${DEBIAN_MIRROR:-$(host_mirror || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# --- 1. pristine debootstrap rootfs, cached ---------------------------------
ROOTFS_TAR="$CACHE_DIR/debian-$SUITE-minbase-$ARCH.tar"
if [[ ! -s $ROOTFS_TAR ]]; then
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
  mkdir -p "$CACHE_DIR"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (takes a few minutes; cached afterwards in $ROOTFS_TAR)"
  debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (full log above was $WORK/debootstrap.log)"; }
  # Trim what debootstrap leaves behind, like the official image.
  chroot "$WORK/rootfs" apt-get clean
  rm -rf "$WORK/rootfs"/var/lib/apt/lists/* "$WORK/rootfs"/var/cache/apt/*.bin \
         "$WORK/rootfs"/var/log/* "$WORK/rootfs"/tmp/* "$WORK/rootfs"/var/tmp/* \
         "$WORK/rootfs"/dev/* "$WORK/rootfs"/proc/* "$WORK/rootfs"/sys/* \
         "$WORK/rootfs"/debootstrap
  tar --numeric-owner --xattrs -C "$WORK/rootfs" -cf "$ROOTFS_TAR.tmp" .
  mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$WORK/rootfs"
else
  log "using cached rootfs $ROOTFS_TAR"
fi

# --- 2. debian:bookworm-slim --------------------------------------------------
make_debian() {
  local R="$WORK/rootfs"
  mkdir -p "$R"
  tar --numeric-owner --xattrs -C "$R" -xpf "$ROOTFS_TAR"

  # Slim/minimizing config of the official image (debuerreotype).
  mkdir -p "$R/etc/dpkg/dpkg.cfg.d" "$R/etc/apt/apt.conf.d"
  cat >"$R/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  echo 'force-unsafe-io' >"$R/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat >"$R/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$R/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$R/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
  chmod 755 "$R/usr/sbin/policy-rc.d"
  rm -rf "$R"/usr/share/doc/*/[!c]* "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/* 2>/dev/null || true

  # apt sources: the host's deb822 file when it has one (same mirror setup
  # the host uses), otherwise the official image's layout on $MIRROR.
  rm -f "$R/etc/apt/sources.list"
  mkdir -p "$R/etc/apt/sources.list.d"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]] && grep -q "$SUITE" /etc/apt/sources.list.d/debian.sources; then
    cp /etc/apt/sources.list.d/debian.sources "$R/etc/apt/sources.list.d/debian.sources"
  else
    local sec=${MIRROR%/debian}/debian-security
    [[ $MIRROR == */debian ]] || sec=http://deb.debian.org/debian-security
    cat >"$R/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  chmod 644 "$R/etc/apt/sources.list.d/debian.sources"

  # CA certificates. The bundle goes to /etc/ssl/certs/ca-certificates.crt
  # (used as is by Go, curl, apt); the certificates of it that Debian's
  # ca-certificates package does not ship go to /usr/local/share/ca-certificates
  # so that a later `apt-get install ca-certificates` (whose postinst rebuilds
  # the bundle) keeps them.
  if [[ -s $HOST_CA_BUNDLE ]]; then
    mkdir -p "$R/etc/ssl/certs" "$R/usr/local/share/ca-certificates"
    install -m 644 "$HOST_CA_BUNDLE" "$R/etc/ssl/certs/ca-certificates.crt"
    local extra="$R/usr/local/share/ca-certificates/camstream-host-extra.crt"
    if [[ -d /usr/share/ca-certificates ]]; then
      # every PEM block of the host bundle whose body is not one of Debian's
      awk -v bundle="$HOST_CA_BUNDLE" '
        /-----BEGIN CERTIFICATE-----/ { inb=1; body=""; blk="" }
        inb { blk = blk $0 "\n"; if ($0 !~ /-----/) body = body $0 }
        /-----END CERTIFICATE-----/ {
          inb=0
          if (FILENAME != bundle) known[body]=1
          else if (!(body in known) && !(body in seen)) { printf "%s", blk; seen[body]=1 }
        }' $(find /usr/share/ca-certificates -name '*.crt' | sort) "$HOST_CA_BUNDLE" >"$extra"
    else
      cp "$HOST_CA_BUNDLE" "$extra"
    fi
    if [[ -s $extra ]]; then
      log "trusting $(grep -c 'BEGIN CERTIFICATE' "$extra") extra CA certificate(s) from the host"
      chmod 644 "$extra"
    else
      rm -f "$extra"
    fi
  else
    log "warning: no host CA bundle at $HOST_CA_BUNDLE; https from containers may fail"
  fi

  log "importing $DEBIAN_IMAGE"
  tar --numeric-owner --xattrs -C "$R" -c . \
    | docker import -c 'CMD ["bash"]' -m "debootstrap --variant=minbase $SUITE $MIRROR (scripts/base-images.sh)" - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$R"
}

# --- 3. golang:1.26-bookworm --------------------------------------------------
make_golang() {
  [[ -x $GO_ROOT/bin/go ]] || die "no Go toolchain at $GO_ROOT"
  local ver
  ver=$("$GO_ROOT/bin/go" env GOVERSION)
  [[ $ver == "$GO_SERIES" || $ver == "$GO_SERIES".* ]] || die "$GO_ROOT is $ver, need $GO_SERIES.x for $GOLANG_IMAGE"
  local goarch
  goarch=$("$GO_ROOT/bin/go" env GOARCH)
  local ctx="$WORK/golang-ctx"
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN set -eux; \\
    apt-get update; \\
    apt-get install -y --no-install-recommends \\
        ca-certificates curl git netbase openssh-client procps \\
        g++ gcc libc6-dev make pkg-config; \\
    rm -rf /var/lib/apt/lists/*
ENV GOLANG_VERSION=${ver#go}
ENV GOTOOLCHAIN=local
ENV GOPATH=/go
ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY go /usr/local/go
RUN mkdir -p "\$GOPATH/src" "\$GOPATH/bin" && chmod -R 1777 "\$GOPATH" && go version
WORKDIR \$GOPATH
EOF
  log "building $GOLANG_IMAGE ($ver, $goarch) from $DEBIAN_IMAGE + $GO_ROOT"
  # The context is streamed as a tar: the Dockerfile plus the toolchain
  # (without its test data and caches, which the official image lacks too).
  tar -C "$ctx" -c Dockerfile \
      -C "$(dirname "$GO_ROOT")" \
      --exclude="$(basename "$GO_ROOT")/pkg/obj" --exclude="$(basename "$GO_ROOT")/pkg/bootstrap" \
      --exclude="$(basename "$GO_ROOT")/test" \
      --transform "s,^$(basename "$GO_ROOT"),go," "$(basename "$GO_ROOT")" \
    | docker build -t "$GOLANG_IMAGE" - >"$WORK/golang-build.log" 2>&1 \
    || { tail -n 40 "$WORK/golang-build.log" >&2; die "building $GOLANG_IMAGE failed"; }
}

if [[ $FORCE == 1 ]] || ! have_image "$DEBIAN_IMAGE"; then
  make_debian
  # the golang image is built FROM the Debian one: keep them in step
  FORCE_GO=1
fi
if [[ ${FORCE_GO:-0} == 1 ]] || ! have_image "$GOLANG_IMAGE"; then
  make_golang
fi

mkdir -p "$CACHE_DIR"
log "saving both images to $SAVED (for a quick reload later)"
if docker save -o "$SAVED.tmp" "$DEBIAN_IMAGE" "$GOLANG_IMAGE"; then
  mv "$SAVED.tmp" "$SAVED"
  fingerprint >"$SAVED.fingerprint"
else
  rm -f "$SAVED.tmp"
  log "warning: could not save the images to $SAVED"
fi

for img in "$DEBIAN_IMAGE" "$GOLANG_IMAGE"; do
  log "$img: $(docker image inspect -f '{{.Id}} {{.Size}}' "$img" | awk '{printf "%s, %.0f MB", substr($1,1,19), $2/1e6}')"
done
