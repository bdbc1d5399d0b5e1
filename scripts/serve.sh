#!/usr/bin/env bash
# Installs what is missing, builds the release binary and serves on 127.0.0.1:8080 with SQLite under ./data.
# Any arguments are passed to `montecluster serve` (e.g. --port 9000 --workers 4).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product montecluster
exec .build/release/montecluster serve --host 127.0.0.1 --port 8080 --data-dir ./data "$@"
