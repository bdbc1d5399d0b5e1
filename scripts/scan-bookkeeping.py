#!/usr/bin/env python3
"""SCAN with its defaults on the Reuters-R8 train embeddings (../shared/embeddings): wall time of the job
against the sum of its epochs' training time (history.json), i.e. what checkpoints and other bookkeeping
cost; and the scores. Run `swift build -c release --product montecluster` first.
Usage: scripts/scan-bookkeeping.py"""
import json, os, sys, tempfile, time, urllib.request
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from server import Server
server = Server(os.path.join(ROOT, ".build", "release", "montecluster"), tempfile.mkdtemp(), workers=1, extra_args=["--max-upload-bytes", str(64 << 20)]).start()
data = open(os.path.join(ROOT, "..", "shared", "embeddings", "reuters-r8-train-minilm-l6-v2.npy"), "rb").read()
labels = open(os.path.join(ROOT, "..", "shared", "embeddings", "reuters-r8-train-labels.npy"), "rb").read()
b = "xyzb"
payload = (f"--{b}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"e.npy\"\r\n\r\n").encode() + data + (f"\r\n--{b}\r\nContent-Disposition: form-data; name=\"labels\"; filename=\"l.npy\"\r\n\r\n").encode() + labels + f"\r\n--{b}--\r\n".encode()
ds = json.loads(urllib.request.urlopen(urllib.request.Request(server.base + "/v1/datasets", data=payload, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={b}"})).read())
print("samples", ds.get("samples"))
t = time.time()
_, _, job = server.request("POST", "/v1/jobs", {"kind": "cluster.scan", "params": {"dataset": ds["id"], "k": 8, "seed": 1}})
while not job["terminal"]:
    _, _, job = server.request("GET", f"/v1/jobs/{job['id']}?wait=30")
r = job["result"]
print(job["status"], job.get("reason"), "wall", round(time.time() - t, 1), "s; result seconds", round(r["seconds"], 1) if r else None)
_, _, h = server.request("GET", f"/v1/jobs/{job['id']}/artifacts/history.json")
print("training seconds (sum of epochs)", round(sum(row["epoch_seconds"] for row in h), 1), "scores", r["scores"], "warnings", r["warnings"])
server.stop()
