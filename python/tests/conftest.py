"""Starts a real montecluster server on loopback for the client's tests (MONTECLUSTER_BINARY, else the debug build)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))


def start_server(data_dir, workers=2):
    binary = os.environ.get("MONTECLUSTER_BINARY", os.path.join(ROOT, ".build", "debug", "montecluster"))
    process = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir, "--workers", str(workers), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    log = []
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("server exited:\n" + "".join(log))
        log.append(line)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            threading.Thread(target=lambda: [log.append(l) for l in process.stdout], daemon=True).start()
            return process, match.group(1), log
    raise RuntimeError("server did not start")


@pytest.fixture(scope="session")
def server():
    data_dir = tempfile.mkdtemp(prefix="montecluster-python-")
    process, base, log = start_server(data_dir)
    yield base
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture()
def mc(server):
    import montecluster
    return montecluster.Client(server)
