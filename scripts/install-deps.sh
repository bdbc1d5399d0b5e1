#!/usr/bin/env bash
# Installs the Debian packages MonteCluster builds and tests with, skipping what is already there.
# The Swift toolchain itself is assumed (swift.org's Debian image or tarball).
set -euo pipefail
# chromium and chromium-driver: the dashboard's browser test (headless, Selenium). postgresql: the PostgreSQL store's
# tests run against a throwaway cluster (scripts/postgres-test-cluster.sh; Debian's package, its own service left off).
packages=(libsqlite3-dev libopenblas-dev zlib1g-dev sqlite3 python3 python3-venv wrk chromium chromium-driver fonts-dejavu-core postgresql "$@")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install the Swift 6.2+ toolchain first" >&2; exit 1; }
