#!/usr/bin/env bash
# Builds the authserver image from deploy/Containerfile without pulling
# anything: the static binary (OpenSSL signer built in) is built here, on
# the host, and the image is made from it, the host's CA certificates and
# an empty data directory. Used by `make image`.
#
# Environment: IMAGE (default authserver:latest), VERSION, REVISION, SOURCE,
# CONTAINER (podman or docker; default: whichever exists, podman first),
# GO (default go).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-authserver:latest}
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
SOURCE=${SOURCE:-https://github.com/oauthkit/authserver}
CERTS=${CERTS:-/etc/ssl/certs/ca-certificates.crt}
if [ -z "${CONTAINER:-}" ]; then
	CONTAINER=$(command -v podman || command -v docker || true)
fi
if [ -z "$CONTAINER" ]; then
	echo "make image: neither podman nor docker is installed" >&2
	exit 1
fi
if [ ! -f "$CERTS" ] || [ ! -f /usr/include/openssl/evp.h ]; then
	echo "make image: needs $CERTS and OpenSSL's headers and libcrypto.a (Debian: ca-certificates libssl-dev)" >&2
	exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# Static: glibc's static libc, libcrypto.a; netgo and osusergo keep Go's
# resolver and user lookups off libc's NSS, which a static binary cannot
# load. libcrypto's own getaddrinfo/dlopen (link warnings) are never called:
# authserver uses it only to sign.
CGO_ENABLED=1 "$GO" build -tags openssl,netgo,osusergo -trimpath \
	-ldflags "-s -w -X main.version=$VERSION -linkmode external -extldflags -static" \
	-o "$ctx/authserver" ./cmd/authserver 2> >(grep -v -e 'statically linked applications requires' -e 'libcrypto.a(' >&2)
if readelf -lW "$ctx/authserver" | grep -q 'Requesting program interpreter'; then
	echo "make image: the binary is not static" >&2
	exit 1
fi
if ! "$ctx/authserver" version | grep -q 'openssl (OpenSSL'; then
	echo "make image: the binary has no OpenSSL signer" >&2
	exit 1
fi
cp "$CERTS" "$ctx/ca-certificates.crt"
# A directory of its own, so that COPY keeps its mode (0700) for /data.
mkdir -p "$ctx/rootfs" && mkdir -m 0700 "$ctx/rootfs/data"

format=()
if [ "$(basename "$CONTAINER")" = podman ]; then
	# OCI images have no HEALTHCHECK; Docker's format keeps it. No layer
	# cache: every step but the COPYs is metadata.
	format=(--format docker --layers=false)
fi
"$CONTAINER" build "${format[@]}" -f deploy/Containerfile -t "$IMAGE" \
	--build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" --build-arg SOURCE="$SOURCE" \
	"$ctx"
echo "built $IMAGE"
