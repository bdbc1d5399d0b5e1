"""Generated-client test: a Python client generated from openapi.yaml by openapi-python-client (pinned in
the test venv, a generator nobody here wrote) drives the real server through every kind: submit the
kind's example, long-poll it, read its typed result, download an artifact, read a problem+json error.

Generation must print no warning: a dropped schema or operation ("Could not find reference", "Cannot
parse response") fails the test. The one configuration given to the generator maps `application/yaml`
(GET /openapi.yaml) to text, which it does not know; everything else is the document as served.

Usage: generated_client_test.py PATH/TO/montecluster PATH/TO/openapi-python-client
"""
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

import io

import jsonschema
import numpy
import safetensors.numpy
import yaml

from server import Checks, Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
check = Checks()


def camel(kind):
    return "".join(part.capitalize() for piece in kind.split(".") for part in piece.split("_"))


def generate(generator, work):
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as handle:
        handle.write("content_type_overrides:\n  application/yaml: text/plain\n  image/svg+xml: text/plain\n  image/png: application/octet-stream\npost_hooks: []\n")
    output = os.path.join(work, "montecluster_client")
    run = subprocess.run([generator, "generate", "--path", os.path.join(ROOT, "openapi.yaml"), "--output-path", output,
                          "--meta", "none", "--config", config], text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(run.stdout.strip())
    warned = [line for line in run.stdout.splitlines() if "warning" in line.lower() or "could not" in line.lower()
              or "cannot parse" in line.lower()]
    check(run.returncode == 0 and not warned, f"openapi-python-client generated the client without warnings ({warned[:3]})")
    sys.path.insert(0, work)
    return importlib.import_module("montecluster_client")


def main(binary, generator):
    work = tempfile.mkdtemp(prefix="montecluster-generated-")
    package = generate(generator, work)
    models = importlib.import_module("montecluster_client.models")
    api = lambda name: importlib.import_module(f"montecluster_client.api.{name}")  # noqa: E731
    jobs, kinds_api = api("jobs"), api("kinds")
    from montecluster_client.api.jobs import (get_job, get_job_artifact, get_job_result, list_job_artifacts, list_job_metric_names,
                                              submit_job)
    from montecluster_client.api.kinds import list_kinds
    with open(os.path.join(ROOT, "openapi.yaml")) as handle:
        spec = yaml.safe_load(handle)
    del jobs, kinds_api

    server = Server(binary, os.path.join(work, "data"), workers=2).start()
    try:
        client = package.Client(base_url=server.base, raise_on_unexpected_status=True, timeout=90)
        listed = list_kinds.sync(client=client)
        check(listed is not None and len(listed.kinds) >= 9, f"listKinds gave {len(listed.kinds) if listed else None} typed kinds")
        clustering_job = None  # an example naming "JOB_ID" (cluster.ruc's source) gets an earlier clustering example's job
        for kind in listed.kinds:
            name = camel(kind.name)
            params = kind.example.to_dict()
            if params.get("source_job") == "JOB_ID":
                params["source_job"] = clustering_job
            submission = getattr(models, f"{name}Submission").from_dict({"kind": kind.name, "params": params,
                                                                          "tags": ["generated-client"]})
            job = submit_job.sync(client=client, body=submission)
            check(type(job).__name__ == "Job" and job.status.value == "queued", f"{kind.name}: submitted ({type(job).__name__})")
            deadline = time.time() + 120
            while not job.terminal and time.time() < deadline:
                job = get_job.sync(job.id, client=client, wait=10)  # long poll
            check(job.status.value == "succeeded", f"{kind.name}: the example succeeded ({job.status.value}: {job.reason})")
            if kind.name == "cluster.kmeans":
                clustering_job = job.id
            result = get_job_result.sync(job.id, client=client)
            check(type(result).__name__ == f"{name}JobResult" and type(result.result).__name__ == f"{name}Result",
                  f"{kind.name}: /result is typed ({type(result).__name__}, {type(result.result).__name__})")
            raw = result.result.to_dict()
            schema = {"$ref": f"#/components/schemas/{name}Result", "components": spec["components"]}
            errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(raw), key=str)
            check(not errors, f"{kind.name}: the result follows {name}Result ({[e.message for e in errors[:2]]})")
            artifacts = list_job_artifacts.sync(job.id, client=client).artifacts
            if artifacts:
                first = artifacts[0]
                file = get_job_artifact.sync(job.id, first.name, client=client)
                payload = file.payload.read()
                check(len(payload) == first.size and hashlib.sha256(payload).hexdigest() == first.sha256,
                      f"{kind.name}: downloaded {first.name} ({len(payload)} bytes, sha256 as listed)")
            listed_names = {artifact.name for artifact in artifacts}
            if "model.json" in listed_names:
                # The model in open formats: the safetensors package reads the weights model.json lists.
                description = json.loads(get_job_artifact.sync(job.id, "model.json", client=client).payload.read())
                weights = safetensors.numpy.load(get_job_artifact.sync(job.id, "model.safetensors", client=client).payload.read())
                listed_tensors = {t["name"]: tuple(t["shape"]) for t in description["tensors"]}
                check(description["kind"] in ("kmeans", "iic", "scan", "gmm", "mixmatch", "ruc") and listed_tensors == {k: v.shape for k, v in weights.items()},
                      f"{kind.name}: model.safetensors loads with the safetensors package ({len(weights)} tensors, as model.json lists)")
            if "draws.json" in listed_names:
                layout = json.loads(get_job_artifact.sync(job.id, "draws.json", client=client).payload.read())
                draws = numpy.load(io.BytesIO(get_job_artifact.sync(job.id, "draws.npy", client=client).payload.read()))
                posterior = {v["name"]: draws[:, :, v["start"]:v["end"]].reshape(draws.shape[0], draws.shape[1], *v["shape"])
                             for v in layout["variables"]}
                check(list(draws.shape) == layout["shape"] and sum(int(numpy.prod(v.shape[2:])) for v in posterior.values()) == draws.shape[2],
                      f"{kind.name}: draws.json describes draws.npy {draws.shape} as {len(posterior)} variables")
            names = list_job_metric_names.sync(job.id, client=client)
            declared = {metric.name for metric in kind.metrics}
            check(all(series.name in declared for series in names.metrics), f"{kind.name}: every recorded metric is declared")

        # A problem+json error arrives as the typed Problem, naming the field.
        strict = package.Client(base_url=server.base, raise_on_unexpected_status=False)
        bad = models.DemoCountSubmission.from_dict({"kind": "demo.count", "params": {"steps": 0}})
        problem = submit_job.sync(client=strict, body=bad)
        check(type(problem).__name__ == "Problem" and problem.code == "out_of_range" and problem.field == "params.steps",
              f"a bad submission reads as a typed Problem ({type(problem).__name__}: {getattr(problem, 'code', None)})")
        missing = get_job.sync("no-such-job", client=strict)
        check(type(missing).__name__ == "Problem" and missing.status == 404, "an unknown job reads as a typed 404 Problem")
    finally:
        server.stop()
    print(f"generated client: {check.passed} passed, {check.failed} failed")
    return 0 if check.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
