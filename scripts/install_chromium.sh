#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver for the Space's browser test (tests/test_space.py), when they
# are missing and apt-get can run (as root, or through password-less sudo). Never fatal for the caller's purpose:
# it exits non-zero when it could not install, and the test is then skipped.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "   chromium and chromedriver already installed"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "   not root and no password-less sudo: cannot apt-get install chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
    || { "${SUDO[@]}" apt-get update -q >/dev/null && "${SUDO[@]}" apt-get install -y -q --no-install-recommends \
        chromium chromium-driver >/dev/null; }
command -v chromium && command -v chromedriver
