#!/usr/bin/env bash
# libFuzzer on every parser an HTTP client can reach: dataset readers (.npy, IDX, CSV, gzip), the JSON
# request-body reader, the expression language and model programs (compile, then value and gradient), and the multipart
# receiver. Built with -sanitize=fuzzer,address in .build-fuzz (first build ~2 min).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default 300 s each: the nightly run; CI runs 20 s)
#
# Seeds are in Fuzz/corpus/<target>; new inputs go to a scratch corpus, crashes to Fuzz/crashes/.
# Prints each target's executions and coverage, and exits non-zero on any crash.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(datasets json expression model multipart)
declare -A products=([datasets]=FuzzDatasets [json]=FuzzJSON [expression]=FuzzExpression [model]=FuzzModel [multipart]=FuzzMultipart)

build=(swift build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
for target in "${targets[@]}"; do
  MONTECLUSTER_FUZZ=1 "${build[@]}" --product "${products[$target]}" >/tmp/montecluster-fuzz-build.log 2>&1 \
    || { tail -30 /tmp/montecluster-fuzz-build.log; echo "fuzz: could not build ${products[$target]}" >&2; exit 1; }
done

mkdir -p Fuzz/crashes
failed=0
passed=0
for target in "${targets[@]}"; do
  work=$(mktemp -d)
  log=$(mktemp)
  # -rss_limit_mb: the harness itself must stay small; -timeout: one input may not take over 10 s (a freeze).
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 ".build-fuzz/debug/${products[$target]}" "$work" "Fuzz/corpus/$target" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
    -artifact_prefix="Fuzz/crashes/$target-" -print_final_stats=1 >"$log" 2>&1
  status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $target: ${runs:-?} executions in ${seconds} s, coverage ${coverage:-?} edges, ${features:-?} features, no crash"
  else
    failed=$((failed + 1))
    echo "fuzz $target: CRASH after ${runs:-?} executions (exit $status); input saved under Fuzz/crashes/"
    grep -E "ERROR|Fatal error|panic|SUMMARY|deadly signal|timeout" "$log" | head -10
  fi
  rm -rf "$work" "$log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
