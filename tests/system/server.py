"""Starts the real montecluster binary on loopback and talks to it with the standard library only."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request


class Server:
    def __init__(self, binary, data_dir, workers=2, lease_seconds=3, extra_env=None, extra_args=None):
        self.binary = binary
        self.data_dir = data_dir
        self.workers = workers
        self.lease_seconds = lease_seconds
        self.extra_env = extra_env or {}
        self.extra_args = extra_args or []
        self.process = None
        self.base = None
        self.log = []

    def start(self, timeout=60):
        env = dict(os.environ, **self.extra_env)
        self.process = subprocess.Popen(
            [self.binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", self.data_dir,
             "--workers", str(self.workers), "--lease-seconds", str(self.lease_seconds), "--log-level", "warning"] + self.extra_args,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("server exited before listening:\n" + "".join(self.log))
            self.log.append(line)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                self.base = match.group(1)
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("server did not start in time")

    def _drain(self):
        for line in self.process.stdout:
            self.log.append(line)

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def request(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=90) as response:
                raw = response.read()
                return response.status, dict(response.headers), (json.loads(raw) if raw and "json" in response.headers.get("Content-Type", "") else raw)
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, dict(error.headers), (json.loads(raw) if raw else None)


class Checks:
    """Counts named checks, printing the failed ones: `check(condition, message)`."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, condition, message):
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", message)

