#!/usr/bin/env bash
# Debian packages fieldfit needs: SuiteSparse (CHOLMOD, for scikit-sparse) and the pthread
# OpenBLAS (without which CHOLMOD is ~3x slower). With the argument `docs`, also the headless
# Chromium and its WebDriver that the documentation site's browser test drives.
# Installs only what is missing.
set -euo pipefail
wanted=(libsuitesparse-dev libopenblas0-pthread)
[ "${1:-}" = docs ] && wanted=(chromium chromium-driver)
need=()
for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
