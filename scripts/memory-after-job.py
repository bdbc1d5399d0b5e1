#!/usr/bin/env python3
"""Resident memory of a release server before, during and after one cluster.iic epoch on MNIST's test
images (../shared/datasets), the measurement behind the README's "RSS after one cluster.iic epoch" row.
Usage: scripts/memory-after-job.py   (builds nothing: run `swift build -c release --product montecluster` first;
needs numpy, e.g. .venv-bench/bin/python)."""
import gzip, io, json, os, subprocess, sys, tempfile, time, urllib.request
import numpy as np
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
from server import Server
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) / 1024
images = np.frombuffer(gzip.open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets", "mnist", "mnist-test-images.u8.gz")).read(), np.uint8).reshape(-1, 28, 28)
buf = io.BytesIO(); np.save(buf, images); body = buf.getvalue()
server = Server(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release", "montecluster"), tempfile.mkdtemp(), workers=1, extra_args=["--max-upload-bytes", str(64 << 20)]).start()
pid = server.process.pid
print("idle", rss(pid))
boundary = "xyzboundary"
payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"m.npy\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
req = urllib.request.Request(server.base + "/v1/datasets", data=payload, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
ds = json.loads(urllib.request.urlopen(req).read())
print("after upload", rss(pid))
_, _, job = server.request("POST", "/v1/jobs", {"kind": "cluster.iic", "params": {"dataset": ds["id"], "k": 10, "epochs": 1, "batch_size": 256}})
peak = 0
while True:
    _, _, job = server.request("GET", f"/v1/jobs/{job['id']}?wait=2")
    peak = max(peak, rss(pid))
    if job["terminal"]: break
time.sleep(4)
print("job", job["status"], "peak", peak, "after job", rss(pid))
server.stop()
