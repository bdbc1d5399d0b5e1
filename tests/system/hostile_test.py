"""Hostile battery against the real binary: requests from every class of issue 11 (inputs that used to
trap, freeze an event loop, amplify memory or race), sent while a thread measures /healthz. Then:
the process never exited, /healthz stayed fast, peak RSS stayed bounded, and nothing partial was left
in the data directory. A second part runs a job that traps (kills the server) and checks that after
two such crashes the job is failed with "crashed the worker" instead of crash-looping the server.

Usage: hostile_test.py PATH/TO/montecluster [--report FILE]
Writes one JSON line of measurements to FILE (bench/service reads it).
"""
import concurrent.futures
import gzip
import json
import multiprocessing
import http.client
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from server import Checks, Server

HEALTHZ_P99_MS = 50
PEAK_RSS_MB = 512
check = Checks()


def raw_request(base, method, path, body=b"", content_type="application/json", timeout=120):
    request = urllib.request.Request(base + path, data=body if method != "GET" else None, method=method)
    if body:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return None, str(error).encode()


def problem(raw):
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}


def _probe_loop(base, stopping, results):
    latencies, failures = [], 0
    while not stopping.is_set():
        start = time.perf_counter()
        status, _ = raw_request(base, "GET", "/healthz", timeout=5)
        elapsed = time.perf_counter() - start
        if status != 200:
            failures += 1
            elapsed = 5.0
        latencies.append(elapsed * 1000)
        time.sleep(0.02)
    results.put((latencies, failures))


class HealthProbe:
    """GET /healthz every 20 ms; records each latency (a failure counts as 5 s). It runs in a process of its own:
    as a thread it waited for the GIL behind the battery's threads (building and reading large bodies), and those
    waits were counted as the server's latency."""

    def __init__(self, base):
        self.base = base
        self.latencies = []
        self.failures = 0
        self.stopping = multiprocessing.Event()
        self.results = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_probe_loop, args=(base, self.stopping, self.results), daemon=True)

    def start(self):
        self.process.start()

    def join(self):
        self.latencies, self.failures = self.results.get(timeout=30)
        self.process.join()

    def p99(self):
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("inf")


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def multipart(parts, boundary="hostile-boundary"):
    body = b""
    for name, filename, data in parts:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if filename:
            body += f'; filename="{filename}"\r\nContent-Type: application/octet-stream'.encode()
        body += b"\r\n\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def npy(header_dict, payload):
    header = repr(header_dict).replace("'fortran_order': False", "'fortran_order': False")
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def job(params_kind, params, **extra):
    return json.dumps({"kind": params_kind, "params": params, **extra}).encode()


def raw_http(base, payload, timeout=5):
    """Sends bytes on a fresh connection; returns what came back before the server closed it."""
    host, port = base.replace("http://", "").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(payload)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except OSError:
            pass
    return received


def gzip_stream(header, zeros, tail=b""):
    """gzip of header + `zeros` zero bytes + tail, compressed in 1 MiB pieces (the test stays small)."""
    import zlib
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [compressor.compress(header)]
    chunk = bytes(1 << 20)
    while zeros > 0:
        out.append(compressor.compress(chunk[:min(zeros, len(chunk))]))
        zeros -= len(chunk)
    out.append(compressor.compress(tail))
    out.append(compressor.flush())
    return b"".join(out)


# Built before the server starts, so compressing them does not compete with it for the cores.
CSV_BOMB = gzip.compress(b"0,0\n" * 5_000_000, compresslevel=9)
# 250,000 images of 64×64 zeros (1 GiB of uint8, about 1 MiB gzip'd): once 4.1 GB of RSS; now refused at
# the 64 Mi-value limit before a single float is made.
NPY_BOMB = gzip_stream(npy({"descr": "|u1", "fortran_order": False, "shape": (250_000, 64, 64)}, b""), 250_000 * 64 * 64)


def battery(base):
    """(name, callable returning (ok, detail)) for each hostile request."""
    long_data = [float(i % 97) for i in range(50_000)]
    long_expression = "sum(" + " + ".join(["normal_lpdf(y, mu, 1)"] * 60) + ")"
    medium_expression = "sum(" + " + ".join(["(y - x)^2"] * 8) + ") * -1e-9"
    csv_bomb = CSV_BOMB
    huge_features = struct.pack("<40f", *([1e20, -1e20] * 20))

    def expect(status_wanted, code=None):
        def verify(status, raw):
            body = problem(raw)
            ok = status == status_wanted and (code is None or body.get("code") == code)
            return ok, f"{status} {body.get('code')} {body.get('detail', raw[:120])}"
        return verify

    def post_job(body, verify):
        return lambda: verify(*raw_request(base, "POST", "/v1/jobs", body))

    def upload(body, content_type, verify):
        return lambda: verify(*raw_request(base, "POST", "/v1/datasets", body, content_type))

    cases = []
    deep = b'{"a":[' * 1_700
    for index in range(4):
        cases.append((f"deep JSON {index}", post_job(deep, expect(400, "malformed_json"))))
    cases.append(("duplicate keys", post_job(b'{"kind": "demo.count", "kind": "sample.mcmc"}', expect(400, "duplicate_key"))))
    cases.append(("expression over 50,000 values", post_job(job("sample.mcmc", {
        "log_density": long_expression, "parameters": [{"name": "mu"}], "data": {"y": long_data}}), expect(422))))
    cases.append(("nested parentheses", post_job(job("sample.mcmc", {
        "log_density": "(" * 100 + "mu" + ")" * 100, "parameters": [{"name": "mu"}]}), expect(422))))
    cases.append(("multipart header of 1 MiB", upload(*multipart([("data", "x" * (1 << 20), b"1,2\n")]), expect(400))))
    cases.append(("IDX header claiming 2^96 floats", upload(b"\x00\x00\x0d\x03" + b"\xff" * 12, "application/octet-stream", expect(422))))
    cases.append(("CSV of 100,000 columns", upload(",".join(["1"] * 100_000).encode() + b"\n", "text/csv", expect(422))))
    cases.append(("gzip'd CSV of 5 M rows", upload(csv_bomb, "application/gzip", expect(422))))
    cases.append(("gzip'd .npy of 1 GiB", upload(NPY_BOMB, "application/gzip", expect(422))))
    cases.append(("labels of 1e20", upload(*multipart([
        ("data", "x.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (3, 2)}, struct.pack("<6f", *range(6)))),
        ("labels", "y.npy", npy({"descr": "<f8", "fortran_order": False, "shape": (3,)}, struct.pack("<3d", 0, 1e20, 2)))]), expect(422))))
    cases.append(("npy shape overflow", upload(npy({"descr": "<f8", "fortran_order": False, "shape": (2 ** 62, 4)}, b""),
                                               "application/octet-stream", expect(422))))

    def malformed_http():
        answer = raw_http(base, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nNot a header\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        return head.startswith(b"HTTP/1.1 400") and problem(body).get("code") == "malformed_http", answer[:160]
    cases.append(("malformed HTTP gets a problem", malformed_http))

    def rebinding():
        answer = raw_http(base, b"GET /v1/jobs HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        return head.startswith(b"HTTP/1.1 403") and problem(body).get("code") == "host_not_allowed", answer[:160]
    cases.append(("DNS rebinding (foreign Host)", rebinding))

    def bom_csv():
        status, raw = raw_request(base, "POST", "/v1/datasets?name=bom", b"\xef\xbb\xbf1,2\n3,4\n5,6\n", "text/csv")
        body = problem(raw)
        return status == 201 and body.get("samples") == 3, f"{status} samples={body.get('samples')}"
    cases.append(("CSV with a byte order mark keeps its first row", bom_csv))

    def job_ends(body, statuses, cancel_after=None, within=60):
        def run():
            status, raw = raw_request(base, "POST", "/v1/jobs", body)
            created = problem(raw)
            if status != 201:
                return False, f"submit {status} {created.get('detail')}"
            job_id = created["id"]
            if cancel_after is not None:
                time.sleep(cancel_after)
                asked = time.time()
                raw_request(base, "POST", f"/v1/jobs/{job_id}/cancel", b"{}")
            deadline = time.time() + within
            while time.time() < deadline:
                _, raw = raw_request(base, "GET", f"/v1/jobs/{job_id}?wait=5")
                current = problem(raw)
                if current.get("terminal"):
                    took = f" (cancelled {time.time() - asked:.1f} s after the request)" if cancel_after is not None else ""
                    return current.get("status") in statuses, f"{current.get('status')}: {current.get('reason')}{took}"
            return False, "not terminal in time"
        return run

    cases.append(("HMC whose step size collapses", job_ends(job("sample.mcmc", {
        "log_density": "-1e200 * x^2", "parameters": [{"name": "x"}], "initial": [1], "chains": 1, "warmup": 400, "draws": 50,
        "method": "hmc"}), {"succeeded", "failed"})))
    cases.append(("geometric with p = 1e-300", job_ends(job("sample.inverse_cdf", {
        "distribution": {"name": "geometric", "params": {"p": 1e-300}}, "draws": 1000}), {"succeeded", "failed"})))
    cases.append(("negative binomial with r = 1e-3, p = 1e-9", job_ends(job("sample.inverse_cdf", {
        "distribution": {"name": "negative_binomial", "params": {"r": 1e-3, "p": 1e-9}}, "draws": 1000}), {"succeeded", "failed"})))
    cases.append(("envelope search over 50,000 values, cancelled", job_ends(job("sample.rejection", {
        "log_density": medium_expression, "proposal": {"name": "normal"}, "data": {"y": long_data}, "draws": 10}),
        {"cancelled"}, cancel_after=1.0, within=10)))
    cases.append(("numeric inversion over 50,000 values, cancelled", job_ends(job("sample.inverse_cdf", {
        "log_density": medium_expression, "lower": -5, "upper": 5, "data": {"y": long_data}, "draws": 10}),
        {"cancelled"}, cancel_after=1.0, within=10)))

    def slow_readers():
        """50 clients download a 16 MB artifact and read it slowly: each once held the whole file (1.9 GB in all)."""
        status, raw = raw_request(base, "POST", "/v1/jobs", job("sample.inverse_cdf", {
            "distribution": {"name": "normal"}, "draws": 2_000_000, "seed": 5}))
        if status != 201:
            return False, f"submit {status}"
        job_id = problem(raw)["id"]
        for _ in range(30):
            _, raw = raw_request(base, "GET", f"/v1/jobs/{job_id}?wait=5")
            if problem(raw).get("terminal"):
                break
        host, port = base.replace("http://", "").split(":")
        readers = []
        for _ in range(50):
            connection = socket.create_connection((host, int(port)), timeout=10)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            connection.sendall(f"GET /v1/jobs/{job_id}/artifacts/draws.npy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            readers.append(connection)
        first = [connection.recv(1024) for connection in readers]
        time.sleep(2)
        for connection in readers:
            connection.close()
        ok = all(chunk.startswith(b"HTTP/1.1 200") for chunk in first)
        return ok, f"{sum(1 for chunk in first if chunk.startswith(b'HTTP/1.1 200'))} of 50 slow readers got 200"
    cases.append(("50 slow readers of a 16 MB artifact", slow_readers))

    def huge_kmeans():
        status, raw = raw_request(base, "POST", "/v1/datasets",
                                  npy({"descr": "<f4", "fortran_order": False, "shape": (20, 2)}, huge_features), "application/octet-stream")
        if status != 201:
            return False, f"upload {status}"
        return job_ends(job("cluster.kmeans", {"dataset": problem(raw)["id"], "k": 3}), {"succeeded", "failed"})()
    cases.append(("k-means on features of ±1e20", huge_kmeans))
    return cases


def connection_cap(server, limit):
    """More idle connections than the cap: the extra ones get a 503 problem, and once the head deadline
    closes the idle ones the server answers again."""
    host, port = server.base.replace("http://", "").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(limit)]
    time.sleep(0.3)
    extra = [socket.create_connection((host, int(port)), timeout=5) for _ in range(10)]
    refused = 0
    for connection in extra:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            answer = connection.recv(4096)
        except OSError:
            answer = b""
        refused += answer.startswith(b"HTTP/1.1 503") and b"too_many_connections" in answer
        connection.close()
    check(refused >= 8, f"only {refused} of 10 connections over the cap of {limit} got a 503 problem")
    time.sleep(3)  # the head deadline (2 s) closes the idle ones
    status, _ = raw_request(server.base, "GET", "/healthz", timeout=5)
    check(status == 200, f"/healthz after the idle connections timed out: {status}")
    for connection in idle:
        connection.close()
    print(f"connection cap: {refused} of 10 connections beyond {limit} refused with 503; /healthz {status} once the idle ones timed out")


def hostile_battery(binary):
    data_dir = tempfile.mkdtemp(prefix="montecluster-hostile-")
    server = Server(binary, data_dir, workers=2, lease_seconds=10,
                    extra_args=["--max-connections", "128", "--header-timeout", "2"]).start()
    probe = HealthProbe(server.base)
    probe.start()
    # The battery's own threads (building and reading bodies of many MB) yield to the server and the probe: on a
    # 2-core machine they otherwise took the CPU from the event loop, and the probe measured the test, not the server.
    os.nice(10)
    time.sleep(0.5)
    started = time.time()
    results = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = {pool.submit(body): name for name, body in battery(server.base)}
            for future in concurrent.futures.as_completed(futures):
                name = futures[future]
                try:
                    ok, detail = future.result()
                except Exception as error:  # a dropped connection is a failure of the server, not of the test
                    ok, detail = False, repr(error)
                results.append((name, ok, detail))
                check(ok, f"{name}: {detail}")
        elapsed = time.time() - started
        time.sleep(0.5)
        probe.stopping.set()
        probe.join()
        alive = server.process.poll() is None
        check(alive, "the server process exited during the battery")
        rss = peak_rss_mb(server.process.pid) if alive else float("nan")
        p99 = probe.p99()
        check(probe.failures == 0, f"/healthz failed {probe.failures} times")
        check(p99 <= HEALTHZ_P99_MS, f"/healthz p99 {p99:.1f} ms > {HEALTHZ_P99_MS} ms")
        check(rss <= PEAK_RSS_MB, f"peak RSS {rss:.0f} MB > {PEAK_RSS_MB} MB")
        leftovers = [os.path.join(root, name) for root, dirs, files in os.walk(data_dir)
                     for name in files + dirs if name.endswith(".partial") or name.startswith("inflated-")]
        check(not leftovers, f"partial files left behind: {leftovers}")
        connection_cap(server, 128)
        for name, ok, detail in sorted(results):
            print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
        print(f"battery: {len(results)} requests in {elapsed:.1f} s; /healthz p99 {p99:.1f} ms over {len(probe.latencies)} probes "
              f"(max {max(probe.latencies):.1f} ms); peak RSS {rss:.0f} MB")
        return {"healthz_p99_ms": p99, "healthz_max_ms": max(probe.latencies), "peak_rss_mb": rss, "requests": len(results),
                "failed": sum(1 for _, ok, _ in results if not ok)}
    finally:
        probe.stopping.set()
        server.stop()


def trap_loop(binary):
    """A job that traps twice is failed, not retried into a crash loop; a job running beside it survives."""
    data_dir = tempfile.mkdtemp(prefix="montecluster-trap-")
    environment = {"MONTECLUSTER_TEST_KINDS": "1"}
    server = Server(binary, data_dir, workers=2, lease_seconds=3, extra_env=environment).start()
    _, _, bystander = server.request("POST", "/v1/jobs", {"kind": "demo.count", "max_attempts": 5,
                                                           "params": {"steps": 40, "step_ms": 50, "checkpoint_every": 5}})
    time.sleep(0.3)
    _, _, trapping = server.request("POST", "/v1/jobs", {"kind": "test.trap", "max_attempts": 5, "params": {"delay_ms": 300}})
    crashes = 0
    for _ in range(2):
        try:
            server.process.wait(timeout=30)
            crashes += 1
        except Exception:
            break
        server = Server(binary, data_dir, workers=2, lease_seconds=3, extra_env=environment).start()
    check(crashes == 2, f"the trapping job crashed the server {crashes} times, expected 2")
    time.sleep(2)
    check(server.process.poll() is None, "the server crashed a third time: the trapping job was retried")
    _, _, failed = server.request("GET", f"/v1/jobs/{trapping['id']}")
    check(failed.get("status") == "failed" and "crashed the worker" in (failed.get("reason") or ""),
          f"trapping job: {failed.get('status')} {failed.get('reason')}")
    deadline = time.time() + 30
    while time.time() < deadline:
        _, _, current = server.request("GET", f"/v1/jobs/{bystander['id']}?wait=5")
        if current.get("terminal"):
            break
    check(current.get("status") == "succeeded", f"the job beside it was blamed: {current.get('status')} {current.get('reason')}")
    print(f"trap loop: {crashes} crashes, then the trapping job {failed.get('status')} ({failed.get('reason')}); "
          f"the job beside it {current.get('status')} on attempt {current.get('attempt')}")
    server.stop()


def sigterm_during_preparation(binary):
    """SIGTERM while a job is deep in numeric inversion (which once ignored stop requests for 85 s): the
    server exits within its 10 s grace and the job goes back to the queue."""
    data_dir = tempfile.mkdtemp(prefix="montecluster-sigterm-")
    server = Server(binary, data_dir, workers=1).start()
    expression = "sum(" + " + ".join(["(y - x)^2"] * 8) + ") * -1e-9"
    status, _, created = server.request("POST", "/v1/jobs", {"kind": "sample.inverse_cdf", "params": {
        "log_density": expression, "lower": -5, "upper": 5, "data": {"y": [float(i % 97) for i in range(50_000)]}, "draws": 10}})
    check(status == 201, f"submit: {status}")
    time.sleep(1.5)
    started = time.time()
    server.stop()
    took = time.time() - started
    check(took < 10, f"SIGTERM took {took:.1f} s to stop the server (grace 10 s)")
    server = Server(binary, data_dir, workers=1).start()
    _, _, job = server.request("GET", f"/v1/jobs/{created['id']}")
    check(job.get("status") in ("queued", "running"), f"the interrupted job is {job.get('status')}, not back in the queue")
    server.request("POST", f"/v1/jobs/{created['id']}/cancel")
    server.stop()
    print(f"SIGTERM during numeric inversion: stopped in {took:.1f} s; the job was {job.get('status')} after the restart")


def sigterm_with_open_streams(binary):
    """SIGTERM while clients stream a running job's events and long-poll it: the server once waited for
    the stream (8.9 s) and ran the job to completion instead of handing it back. Now every stream and
    long poll ends at once, the process exits within 1 s and the job is back in the queue."""
    data_dir = tempfile.mkdtemp(prefix="montecluster-sigterm-sse-")
    server = Server(binary, data_dir, workers=1).start()
    status, _, created = server.request("POST", "/v1/jobs", {"kind": "demo.count", "params": {"steps": 400, "step_ms": 50}})
    check(status == 201, f"submit: {status}")
    job_id = created["id"]
    deadline = time.time() + 20
    while time.time() < deadline and server.request("GET", f"/v1/jobs/{job_id}")[2].get("status") != "running":
        time.sleep(0.05)
    ended = {}

    def stream():
        connection = http.client.HTTPConnection(server.base.split("//")[1], timeout=30)
        connection.request("GET", f"/v1/jobs/{job_id}/events")
        response = connection.getresponse()
        while response.read(1024):
            pass
        ended["stream"] = time.time()

    def long_poll():
        connection = http.client.HTTPConnection(server.base.split("//")[1], timeout=30)
        connection.request("GET", f"/v1/jobs/{job_id}?wait=30", headers={"If-None-Match": "*"})
        connection.getresponse().read()
        ended["poll"] = time.time()

    threads = [threading.Thread(target=stream), threading.Thread(target=long_poll)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    started = time.time()
    server.stop()
    took = time.time() - started
    for thread in threads:
        thread.join(timeout=5)
    check(took < 1.0, f"SIGTERM with an open SSE stream and long poll stopped the server in {took:.2f} s (limit 1 s)")
    check("stream" in ended and "poll" in ended, f"the stream and the long poll both ended ({sorted(ended)})")
    server = Server(binary, data_dir, workers=1).start()
    _, _, job = server.request("GET", f"/v1/jobs/{job_id}")
    check(job.get("status") in ("queued", "running") and (job.get("progress") or {}).get("fraction", 1) < 1,
          f"the job was handed back unfinished (status {job.get('status')}, progress {job.get('progress')})")
    server.request("POST", f"/v1/jobs/{job_id}/cancel")
    server.stop()
    print(f"SIGTERM with an open stream and long poll: stopped in {took:.2f} s; the job was {job.get('status')} after the restart")


def refuses_open_address_without_tokens(binary):
    """`serve --host 0.0.0.0` with no token exits at once (nothing is bound); `tokens create` prints a token once."""
    import subprocess
    data_dir = tempfile.mkdtemp(prefix="montecluster-tokens-")
    refused = subprocess.run([binary, "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", data_dir],
                             capture_output=True, text=True, timeout=60)
    check(refused.returncode == 2 and "without API tokens" in refused.stderr,
          f"serve on 0.0.0.0 without tokens: exit {refused.returncode}, {refused.stderr.strip()[:200]}")
    created = subprocess.run([binary, "tokens", "create", "--name", "alice", "--data-dir", data_dir], capture_output=True, text=True, timeout=60)
    token = created.stdout.strip()
    check(created.returncode == 0 and token.startswith("mc_") and len(token) > 40, f"tokens create: {created.returncode} {created.stderr[:200]}")
    listed = subprocess.run([binary, "tokens", "list", "--data-dir", data_dir], capture_output=True, text=True, timeout=60)
    check("alice" in listed.stdout and token not in listed.stdout, "tokens list shows names, never secrets")
    with open(os.path.join(data_dir, "montecluster.sqlite"), "rb") as database:
        check(token.encode() not in database.read(), "the token's secret is stored in the database")


def main():
    binary = sys.argv[1]
    report = sys.argv[sys.argv.index("--report") + 1] if "--report" in sys.argv else None
    measured = hostile_battery(binary)
    if "--battery-only" not in sys.argv:
        trap_loop(binary)
        refuses_open_address_without_tokens(binary)
        sigterm_during_preparation(binary)
        sigterm_with_open_streams(binary)
    if report:
        with open(report, "w") as out:
            out.write(json.dumps(measured) + "\n")
    print(f"hostile: {check.passed} passed, {check.failed} failed")
    sys.exit(1 if check.failed else 0)


if __name__ == "__main__":
    main()
