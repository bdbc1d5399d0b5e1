#!/usr/bin/env python3
"""Rewrites the generated block of openapi.yaml (JobSubmission and one schema per job kind) from the
live server's GET /v1/kinds, so the document and the code cannot drift. The contract test fails
when they differ. Usage: scripts/sync-openapi-kinds.py [PATH/TO/montecluster]
"""
import json
import os
import re
import sys
import tempfile
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from server import Server  # noqa: E402

BEGIN = "    # BEGIN GENERATED KIND SCHEMAS"
END = "    # END GENERATED KIND SCHEMAS"


def yaml_safe(text):
    """JSON is YAML, except that YAML 1.1 readers (PyYAML) take 1e-10 for a string: give every
    exponent a decimal point and a sign."""
    def fix(match):
        whole, fraction, sign, exponent = match.groups()
        return f"{whole}.{fraction or '0'}e{sign or '+'}{exponent}"
    return re.sub(r'(?<![\w."])(-?\d+)(?:\.(\d+))?[eE]([+-]?)(\d+)', fix, text)


def camel(kind):
    return "".join(part.capitalize() for piece in kind.split(".") for part in piece.split("_"))


def block(kinds):
    lines = [BEGIN + " (scripts/sync-openapi-kinds.py writes this block from GET /v1/kinds)"]
    refs = [{"$ref": f"#/components/schemas/{camel(k['name'])}Submission"} for k in kinds]
    lines.append("    JobSubmission: " + json.dumps({
        "description": "A job to run: one of the kinds below, each with its own params (the same schemas GET /v1/kinds serves).",
        "oneOf": refs}))
    for kind in kinds:
        name = camel(kind["name"])
        schemas = "#/components/schemas/"
        lines.append(f"    {name}Submission: " + json.dumps({
            "type": "object", "additionalProperties": False, "required": [k for k in ["kind", "params"] if k == "kind" or kind["parameters"].get("required")],
            "description": kind["summary"],
            "properties": {"kind": {"const": kind["name"]}, "params": {"$ref": f"#/components/schemas/{name}Params"},
                           "name": {"$ref": schemas + "JobName"}, "priority": {"$ref": schemas + "JobPriority"},
                           "max_attempts": {"$ref": schemas + "JobMaxAttempts"}, "tags": {"$ref": schemas + "JobTags"},
                           "metadata": {"$ref": schemas + "JobMetadata"}},
            "example": {"kind": kind["name"], "params": kind["example"]}}, sort_keys=True))
        lines.append(f"    {name}Params: " + json.dumps(dict(kind["parameters"], title=f"{kind['name']} parameters"), sort_keys=True))
    lines.append(END)
    return yaml_safe("\n".join(lines)) + "\n"


def spliced(spec_text, kinds):
    start = spec_text.index(BEGIN)
    end = spec_text.index(END) + len(END) + 1
    return spec_text[:start] + block(kinds) + spec_text[end:]


def fetch_kinds(base):
    with urllib.request.urlopen(base + "/v1/kinds") as response:
        return json.load(response)["kinds"]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "montecluster")
    server = Server(binary, tempfile.mkdtemp(prefix="montecluster-sync-")).start()
    try:
        kinds = fetch_kinds(server.base)
    finally:
        server.stop()
    path = os.path.join(ROOT, "openapi.yaml")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(spliced(text, kinds))
    print(f"openapi.yaml: {len(kinds)} kinds written")
    import subprocess
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "embed-openapi.py")], check=True)


if __name__ == "__main__":
    main()
