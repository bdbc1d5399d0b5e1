#!/usr/bin/env bash
# The whole test suite: unit and in-process HTTP tests (swift test), the kill -9 crash-recovery
# test against the real binary, and the schemathesis contract test of openapi.yaml.
# Servers it needs are started here, on 127.0.0.1 only.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1

tools=.venv-tools
if [ ! -x "$tools/bin/schemathesis" ] || [ ! -x "$tools/bin/openapi-python-client" ] \
  || ! "$tools/bin/python" -c "import openapi_spec_validator, safetensors.numpy, pandas, requests, pytest, tqdm, arviz, nbclient, ipykernel, selenium" 2>/dev/null; then
  python3 -m venv "$tools" && "$tools/bin/pip" install -q --disable-pip-version-check \
    schemathesis==4.32.5 openapi-spec-validator==0.9.0 openapi-python-client==0.29.1 numpy==2.2.6 safetensors==0.6.2 \
    requests==2.32.5 pandas==2.3.3 pytest==8.4.2 tqdm==4.67.1 arviz==0.22.0 nbclient==0.10.2 nbformat==5.10.4 ipykernel==6.30.1 \
    selenium==4.51.0 \
    || { echo "could not install test tools" >&2; exit 1; }
fi
# The client as users install it (pip install ./python): packaging errors fail here, not on a user's machine.
"$tools/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall ./python >/dev/null \
  || { echo "pip install ./python failed" >&2; exit 1; }

# One OpenBLAS thread, as montecluster runs jobs (MONTECLUSTER_TENSOR_THREADS defaults to 1):
# the tests exercise the configuration that ships.
export OPENBLAS_NUM_THREADS=1

# A throwaway PostgreSQL cluster (loopback, temporary folder, removed on exit) for the PostgreSQL store's tests.
eval "$(scripts/postgres-test-cluster.sh start)" || { echo "could not start a PostgreSQL test cluster" >&2; exit 1; }
trap 'scripts/postgres-test-cluster.sh stop "$PG_TEST_DIR"' EXIT

passed=0
failed=0
run() {
  local name=$1
  shift
  echo "==> $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

# Layout is swift-format's (.swift-format: 4 spaces, line length 150); `swift format -i -r Sources Tests Fuzz Package.swift` fixes it.
run "swift-format" swift format lint --strict -r Sources Tests Fuzz Package.swift
# XCTest only: every test here is XCTest, and Swift Testing would print a misleading "0 tests" line.
run "swift test" swift test --disable-swift-testing
if swift build --product montecluster; then
  binary=.build/debug/montecluster
  run "crash recovery (kill -9)" python3 tests/system/crash_recovery_test.py "$binary"
  run "training crash recovery (kill -9 during IIC, SCAN and RUC)" python3 tests/system/training_crash_test.py "$binary"
  run "hostile requests and trap loop" python3 tests/system/hostile_test.py "$binary"
  run "disk full (tmpfs)" python3 tests/system/disk_full_test.py "$binary"
  run "contract (schemathesis)" "$tools/bin/python" tests/system/contract_test.py "$binary" "$tools/bin/schemathesis"
  run "generated Python client (openapi-python-client)" "$tools/bin/python" tests/system/generated_client_test.py "$binary" "$tools/bin/openapi-python-client"
  run "README notebook block" "$tools/bin/python" tests/system/readme_test.py "$binary" "$tools/bin/python"
  run "Python client (pytest)" env MONTECLUSTER_BINARY="$binary" "$tools/bin/python" -m pytest -q python/tests
  run "example notebooks (nbclient)" "$tools/bin/python" tests/system/notebooks_test.py "$binary"
  run "dashboard in headless Chromium (Selenium)" "$tools/bin/python" tests/system/dashboard_test.py "$binary"
  run "several nodes on PostgreSQL (kill -9, SIGSTOP, database loss)" python3 tests/system/scale_test.py "$binary"
else
  failed=$((failed + 1))
fi
# libFuzzer on every parser a client can reach, 20 s per target here; scripts/fuzz.sh 300 is the long run.
run "fuzz (libFuzzer, 20 s per target)" scripts/fuzz.sh 20
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
