"""Contract test: openapi.yaml is a valid OpenAPI document and the live server conforms to it,
checked by schemathesis with every check it has (status codes, content types, headers, response
schemas, rejection of invalid input, acceptance of valid input, 405s, stateful links).

Two passes against one server:
1. the real spec, every check, without the stateful phase: generated job ids are unknown, so
   nothing waits on the (possibly hours-long) jobs that valid random bodies submit;
2. the stateful phase (submit, then follow the links to poll, stream, cancel, delete) on a copy
   of the spec that narrows demo.count's steps and step_ms, so the jobs it follows and the SSE
   streams and long polls that wait on them end in milliseconds. That narrowing would make the
   server's acceptance of steps=6 look like a violation, so this pass leaves out
   negative_data_rejection, which pass 1 covers on the real spec.

Usage: contract_test.py PATH/TO/montecluster PATH/TO/schemathesis
"""
import os
import subprocess
import sys
import tempfile

import yaml
from openapi_spec_validator import validate

from server import Server

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def main(binary, schemathesis):
    with open(os.path.join(ROOT, "openapi.yaml")) as handle:
        spec = yaml.safe_load(handle)
    validate(spec)
    print("openapi.yaml: valid OpenAPI 3.1")

    work = tempfile.mkdtemp(prefix="montecluster-contract-")
    real = os.path.join(ROOT, "openapi.yaml")
    params = spec["components"]["schemas"]["DemoCountParams"]["properties"]
    params["steps"]["maximum"] = 5
    params["step_ms"]["maximum"] = 20
    narrowed = os.path.join(work, "openapi-narrowed.yaml")
    with open(narrowed, "w") as handle:
        yaml.safe_dump(spec, handle)

    common = ["--max-examples", "40", "--workers", "2", "--request-timeout", "30", "--generation-deterministic",
              "--suppress-health-check", "all", "--warnings", "off"]
    passes = [
        ("real spec", [real, "--checks", "all", "--phases", "examples,coverage,fuzzing"]),
        ("stateful", [narrowed, "--checks", "all", "--exclude-checks", "negative_data_rejection", "--phases", "stateful"]),
    ]
    server = Server(binary, os.path.join(work, "data"), workers=2).start()
    results = []
    try:
        for name, arguments in passes:
            print(f"== schemathesis: {name}", flush=True)
            run = subprocess.run([schemathesis, "run", arguments[0], "--url", server.base] + arguments[1:] + common,
                                 text=True, timeout=900)
            results.append(run.returncode == 0)
    finally:
        server.stop()
    passed = sum(results)
    print(f"contract: {passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
