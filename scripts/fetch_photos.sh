#!/usr/bin/env bash
# Extracts the 12 nature photos of Debian's mate-backgrounds package (GPL-2+) into a cache folder, without
# installing anything system-wide, and prints the folder. bridge_diffusers.data reads it through
# BRIDGE_DIFFUSERS_MATE_DIR or from ~/.cache/bridge-diffusers/mate-backgrounds by default.
set -euo pipefail
CACHE=${BRIDGE_DIFFUSERS_MATE_CACHE:-$HOME/.cache/bridge-diffusers/mate-backgrounds}
PHOTOS="$CACHE/usr/share/backgrounds/mate/nature"
if ls "$PHOTOS"/*.jpg >/dev/null 2>&1; then
    echo "$PHOTOS"
    exit 0
fi
command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "apt-get/dpkg not found" >&2; exit 1; }
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && { apt-get download -qq mate-backgrounds 2>/dev/null || { apt-get update -qq && apt-get download -qq mate-backgrounds; }; })
dpkg -x "$work"/mate-backgrounds_*_all.deb "$CACHE"
ls "$PHOTOS"/*.jpg >/dev/null
echo "$PHOTOS"
