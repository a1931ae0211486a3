#!/usr/bin/env bash
# Builds the Docker backend's base image, optagent/base:bookworm, without any container registry:
# debootstrap makes a Debian bookworm root from Debian's package mirror, and `docker import`
# turns it into an image.
#
#   crates/optagent-sandbox/image/build.sh            # reuse the image if the tag exists
#   crates/optagent-sandbox/image/build.sh --force    # rebuild it
#
# Environment: OPTAGENT_IMAGE (tag, default optagent/base:bookworm), DEBIAN_MIRROR (default: the
# first bookworm URI in this machine's apt sources, else http://deb.debian.org/debian),
# OPTAGENT_IMAGE_WORKDIR (scratch folder, default a fresh one under /var/tmp, removed at the end).
# Needs root (debootstrap chroots) and a reachable Docker engine.
set -euo pipefail

TAG="${OPTAGENT_IMAGE:-optagent/base:bookworm}"
SUITE=bookworm
FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force | -f) FORCE=1 ;;
        -h | --help)
            sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build.sh: unknown argument: $arg (use --force to rebuild)" >&2
            exit 2
            ;;
    esac
done

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "build.sh: no Docker engine reachable (is dockerd running?)" >&2
    exit 1
fi

if [[ $FORCE -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "image $TAG already exists; reusing it (pass --force to rebuild)"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "build.sh: debootstrap needs root; run it with sudo" >&2
    exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

if [[ -z "${DEBIAN_MIRROR:-}" ]]; then
    DEBIAN_MIRROR=$(
        { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
          grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } |
            grep -o 'https\?://[^ ]*debian/\?$\|https\?://[^ ]*debian ' | grep -v security | head -n1 | tr -d ' '
    )
    DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi

PACKAGES=(
    python3 python3-venv python3-pip
    gcc g++ make git valgrind patch
    ca-certificates procps coreutils findutils util-linux
)

start=$(date +%s)
WORK="${OPTAGENT_IMAGE_WORKDIR:-$(mktemp -d /var/tmp/optagent-image.XXXXXX)}"
ROOT="$WORK/root"
cleanup() {
    # Never leave mounts behind in the scratch root, then remove it.
    for m in proc sys dev/pts dev; do
        mountpoint -q "$ROOT/$m" 2>/dev/null && umount -l "$ROOT/$m" || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$ROOT"
mkdir -p "$ROOT"

echo "debootstrap $SUITE (minbase) from $DEBIAN_MIRROR into $ROOT"
debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    "$SUITE" "$ROOT" "$DEBIAN_MIRROR"

# Keep it small: no apt lists or caches, no docs or man pages, no locales but C.
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
    "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/log/* "$ROOT"/tmp/* "$ROOT"/var/tmp/* \
    "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
    "$ROOT"/usr/share/locale/* "$ROOT"/root/.cache
find "$ROOT"/usr/lib/python3* -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
# A fixed, image-local resolver config and hostname; the engine replaces them at run time anyway.
: >"$ROOT/etc/resolv.conf"
echo optagent >"$ROOT/etc/hostname"
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"

old_id=$(docker image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
echo "importing into $TAG"
tar --numeric-owner -C "$ROOT" -c . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change 'WORKDIR /' \
        --change 'CMD ["sleep", "infinity"]' \
        --change 'LABEL org.opencontainers.image.title=optagent-base' \
        --message "optagent base image: debian $SUITE minbase, built by crates/optagent-sandbox/image/build.sh" \
        - "$TAG" >/dev/null

# A rebuild leaves the previous image untagged: drop it unless a container still uses it.
new_id=$(docker image inspect --format '{{.Id}}' "$TAG")
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || echo "note: previous image $old_id is still in use; kept"
fi

end=$(date +%s)
size=$(docker image inspect --format '{{.Size}}' "$TAG")
echo "built $TAG in $((end - start))s ($((size / 1024 / 1024)) MiB)"
