"""Several nodes on one PostgreSQL database (issue 17): one API process and three worker processes in their own schema of
the throwaway cluster (MONTECLUSTER_TEST_DATABASE_URL, from scripts/postgres-test-cluster.sh). Submits short jobs and
two training jobs through the API node, kills -9 the worker running the SCAN job mid-run and another worker at a random
moment, pauses a third (SIGSTOP) past its lease, stops the database for 10 s; then checks every job succeeded, the
training jobs resumed from their checkpoints on other nodes with results equal to uninterrupted runs', no metric step
was lost or repeated, no job had two live owners (its events), the paused worker's late writes were refused, and the
API node's SSE and long polls saw the workers' progress.

Usage: scale_test.py PATH/TO/montecluster
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from server import Server  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LEASE = 3
failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atqc", sql], capture_output=True, text=True, check=True).stdout.strip()


def wait_terminal(api, job_id, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, _, job = api.request("GET", f"/v1/jobs/{job_id}?wait=20")
        if isinstance(job, dict) and job.get("status") in ("succeeded", "failed", "cancelled"):
            return job
    return api.request("GET", f"/v1/jobs/{job_id}")[2]


def upload_points(api):
    """Three blobs in 2-D with labels, as .npy parts of a multipart upload (standard library only)."""
    import io
    import struct
    rows, labels = [], []
    for index in range(150):
        label = index % 3
        rows.append((label * 6 + random.gauss(0, 0.5), random.gauss(0, 0.5)))
        labels.append(label)

    def npy(shape, descr, payload):
        header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
        header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload

    data = npy("(150, 2)", "<f4", b"".join(struct.pack("<ff", *row) for row in rows))
    label_file = npy("(150,)", "<i8", b"".join(struct.pack("<q", label) for label in labels))
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for field, payload in (("data", data), ("labels", label_file)):
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{field}.npy"\r\n'
                   f"Content-Type: application/octet-stream\r\n\r\n".encode() + payload + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(api.base + "/v1/datasets", data=body.getvalue(),
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["id"]


def node(binary, work, name, url, role, workers=2):
    server = Server(binary, os.path.join(work, name), workers=workers, lease_seconds=LEASE,
                    extra_args=["--database-url", url, "--role", role]).start()
    match = re.search(r"\(workers (\w+)\)", "".join(server.log))
    server.instance = match.group(1) if match else None
    return server


def main(binary):
    base_url = os.environ.get("MONTECLUSTER_TEST_DATABASE_URL")
    if not base_url:
        print("MONTECLUSTER_TEST_DATABASE_URL is not set (scripts/test.sh starts a cluster and sets it)")
        return False
    pg_dir = os.environ.get("PG_TEST_DIR")
    schema = "scale_" + uuid.uuid4().hex[:12]
    url = f"{base_url}?search_path={schema}"
    psql_url = base_url + f"?options=-csearch_path%3D{schema}"
    work = tempfile.mkdtemp(prefix="montecluster-scale-")
    api = node(binary, work, "api", url, "api")
    workers = [node(binary, work, f"worker{i}", url, "worker") for i in range(3)]
    by_instance = {w.instance: w for w in workers}
    check(all(w.instance for w in workers), f"each worker node names its instance ({[w.instance for w in workers]})")
    try:
        status, _, body = workers[0].request("GET", "/v1/jobs")
        check(status == 404, "a worker node serves no API (GET /v1/jobs is 404 there)")
        # Reference runs first, uninterrupted, for the training jobs' results.
        training = {
            "cluster.iic": {"dataset": "generated:shapes", "generated_samples": 300, "k": 4, "epochs": 8, "batch_size": 32, "seed": 3},
            "cluster.scan": {"dataset": "generated:shapes", "generated_samples": 300, "k": 4, "pretext_epochs": 6, "scan_epochs": 6,
                             "self_label_epochs": 2, "pretext_batch_size": 32, "scan_batch_size": 32, "seed": 3},
        }
        references = {}
        for kind, params in training.items():
            status, _, job = api.request("POST", "/v1/jobs", {"kind": kind, "params": params, "tags": ["reference"]})
            assert status == 201, job
            references[kind] = job["id"]
        for kind, job_id in references.items():
            final = wait_terminal(api, job_id)
            check(final["status"] == "succeeded", f"reference {kind} succeeded on some worker ({final.get('reason')})")

        # An upload to the API node is clustered on a worker node, which has its own data directory: the files come
        # from the database.
        dataset = upload_points(api)
        _, _, clustered = api.request("POST", "/v1/jobs", {"kind": "cluster.kmeans", "params": {"dataset": dataset, "k": 3, "seed": 1}})
        final = wait_terminal(api, clustered["id"])
        check(final["status"] == "succeeded" and (final.get("result") or {}).get("scores", {}).get("acc", 0) > 0.9,
              f"a dataset uploaded to the API node was clustered on a worker node ({final['status']}: {final.get('reason')})")

        # The load: 200 short sampler jobs and the two training jobs.
        short = []
        for index in range(200):
            _, _, job = api.request("POST", "/v1/jobs", {"kind": "sample.inverse_cdf", "params": {
                "distribution": {"name": "normal", "params": {"mu": 0, "sigma": 1}}, "draws": 2000, "seed": index}})
            short.append(job["id"])
        trained = {}
        for kind, params in training.items():
            _, _, job = api.request("POST", "/v1/jobs", {"kind": kind, "params": params, "priority": 5})
            trained[kind] = job["id"]

        # SSE on the API node: the SCAN job's progress, reported by a worker process, streams here.
        events = urllib.request.urlopen(api.base + f"/v1/jobs/{trained['cluster.scan']}/events", timeout=60)
        seen = b""
        deadline = time.time() + 60
        while b"event: progress" not in seen and time.time() < deadline:
            seen += events.read1(4096)
        events.close()
        check(b"event: progress" in seen, "SSE on the API node carries progress reported by a worker process")
        # A long poll on the API node returns when a worker process changes the job (not at its 20 s timeout).
        status, headers, before = api.request("GET", f"/v1/jobs/{trained['cluster.scan']}")
        started = time.time()
        status, _, after = api.request("GET", f"/v1/jobs/{trained['cluster.scan']}?wait=20", headers={"If-None-Match": headers.get("ETag", "")})
        check(status == 200 and time.time() - started < 15 and after != before,
              f"a long poll on the API node woke on a worker's change ({status}, {time.time() - started:.2f} s)")

        # kill -9 the worker running SCAN once it is past its pretext's second epoch.
        scan = trained["cluster.scan"]
        deadline = time.time() + 120
        holder = None
        while time.time() < deadline:
            row = psql(psql_url, f"SELECT worker_id || ' ' || progress FROM jobs WHERE id = '{scan}' AND status = 'running'")
            if row and float(row.split()[1]) > 0.2:
                holder = row.split()[0]
                break
            time.sleep(0.1)
        victim = by_instance.get(holder.rsplit("-", 1)[0]) if holder else None
        check(victim is not None, f"found the worker running SCAN ({holder})")
        killed = time.time()
        if victim:
            victim.kill9()
        # Another worker at a random moment.
        survivors = [w for w in workers if w is not victim]
        time.sleep(random.uniform(0.2, 2.0))
        second = survivors.pop(random.randrange(len(survivors)))
        second.kill9()
        # Replacements, so that jobs keep running on "other nodes".
        replacements = [node(binary, work, f"worker-r{i}", url, "worker") for i in range(2)]
        live = survivors + replacements

        # Requeued within lease + rescue interval, then resumed elsewhere.
        requeued_at = None
        deadline = time.time() + 60
        while time.time() < deadline:
            row = psql(psql_url, f"SELECT status || ' ' || attempt FROM jobs WHERE id = '{scan}'")
            if row.split()[1] == "2" and row.split()[0] == "running":
                requeued_at = time.time()
                break
            time.sleep(0.05)
        check(requeued_at is not None and requeued_at - killed <= LEASE + 2 + LEASE / 3 + 1,
              f"SCAN ran again on another node {None if requeued_at is None else round(requeued_at - killed, 2)} s after kill -9 "
              f"(lease {LEASE} s)")

        # SIGSTOP a worker running a job past its lease, SIGCONT it after the job moved on: its late writes are refused.
        # The short jobs may all be done by now: three jobs of a few seconds each (about 5 s in a debug build), ahead of the
        # queue, to pause one of; attempts to spare, as the database's outage below may cost this job another lease.
        pausable = []
        for index in range(3):
            _, _, job = api.request("POST", "/v1/jobs", {"kind": "sample.mcmc", "priority": 10, "max_attempts": 10, "params": {
                "log_density": "-0.5 * x^2", "parameters": [{"name": "x"}], "chains": 1, "warmup": 100,
                "draws": 100000, "seed": index}})
            pausable.append(job["id"])
        short += pausable
        paused = None
        for _ in range(400):
            rows = psql(psql_url, "SELECT id || ' ' || worker_id FROM jobs WHERE status = 'running' AND kind = 'sample.mcmc' LIMIT 1")
            if rows:
                job_id, worker_id = rows.split()
                candidate = by_instance.get(worker_id.rsplit("-", 1)[0]) or next(
                    (r for r in replacements if r.instance == worker_id.rsplit("-", 1)[0]), None)
                if candidate and candidate.process.poll() is None:
                    # The job may finish between the query and the signal (these jobs are short): stop the worker,
                    # let any statement already sent land, and keep it paused only if it still holds the job.
                    candidate.process.send_signal(signal.SIGSTOP)
                    time.sleep(0.3)
                    still = psql(psql_url, f"SELECT status || ' ' || worker_id FROM jobs WHERE id = '{job_id}'")
                    if still == f"running {worker_id}":
                        paused = (candidate, job_id)
                        break
                    candidate.process.send_signal(signal.SIGCONT)
            time.sleep(0.02)
        check(paused is not None, "paused a worker while it held a job")
        if paused:
            candidate, paused_job = paused
            time.sleep(LEASE * 2 + 2)
            candidate.process.send_signal(signal.SIGCONT)

        # The database goes away for 10 s: nodes report not ready, then carry on.
        if pg_dir:
            subprocess.run([os.path.join(ROOT, "scripts", "postgres-test-cluster.sh"), "pause", pg_dir], check=True)
            time.sleep(2)
            status, _, _ = api.request("GET", "/readyz")
            check(status == 503, f"the API node is not ready while the database is down ({status})")
            time.sleep(8)
            subprocess.run([os.path.join(ROOT, "scripts", "postgres-test-cluster.sh"), "resume", pg_dir], check=True)
            deadline = time.time() + 30
            while time.time() < deadline and api.request("GET", "/readyz")[0] != 200:
                time.sleep(0.5)
            check(api.request("GET", "/readyz")[0] == 200, "the API node is ready again after the database came back")

        # Everything ends succeeded.
        finals = {job_id: wait_terminal(api, job_id) for job_id in short + list(trained.values())}
        bad = {j: (f["status"], f.get("reason")) for j, f in finals.items() if f["status"] != "succeeded"}
        check(not bad, f"all {len(finals)} jobs succeeded ({len(bad)} did not: {list(bad.items())[:3]})")

        for kind, job_id in trained.items():
            _, _, mine = api.request("GET", f"/v1/jobs/{job_id}/artifacts/assignments.csv")
            _, _, theirs = api.request("GET", f"/v1/jobs/{references[kind]}/artifacts/assignments.csv")
            check(mine == theirs and len(mine) > 100, f"{kind}: the result equals an uninterrupted run's")
        _, _, log = api.request("GET", f"/v1/jobs/{scan}/logs")
        log = log.decode() if isinstance(log, bytes) else str(log)
        check("resuming from the checkpoint at step" in log, "SCAN's log tells it resumed from a checkpoint")
        # Metric steps: each (name, step) once, a contiguous run of steps for the epoch losses.
        counts = psql(psql_url, f"SELECT COUNT(*) || ' ' || COUNT(DISTINCT (name, step)) FROM metrics WHERE job_id = '{scan}'")
        total, distinct = map(int, counts.split())
        check(total == distinct and total > 0, f"no SCAN metric point stored twice ({total} points)")
        steps = psql(psql_url, f"SELECT string_agg(step::text, ',' ORDER BY step) FROM metrics WHERE job_id = '{scan}' AND name = 'pretext_loss'")
        check(steps == ",".join(str(s) for s in range(1, 7)), f"SCAN's pretext epochs each recorded once, none lost ({steps})")
        # Two live owners would show as two `running` events of one attempt, or a terminal event followed by another.
        doubles = psql(psql_url, """
            SELECT COUNT(*) FROM (
              SELECT job_id, data::jsonb->>'attempt' AS attempt, COUNT(*) AS n FROM events
              WHERE type = 'status' AND data::jsonb->>'status' = 'running' GROUP BY 1, 2 HAVING COUNT(*) > 1) AS d""")
        check(doubles == "0", f"no job was claimed twice for one attempt ({doubles})")
        terminal = psql(psql_url, """
            SELECT COUNT(*) FROM (
              SELECT job_id FROM events WHERE type = 'status' AND data::jsonb->>'status' IN ('succeeded', 'failed', 'cancelled')
              GROUP BY job_id HAVING COUNT(*) > 1) AS t""")
        check(terminal == "0", f"no job finished twice (a late write from a lost owner) ({terminal})")
        if paused:
            _, paused_job = paused
            final = finals.get(paused_job) or wait_terminal(api, paused_job)
            check(final["status"] == "succeeded" and final["attempt"] >= 2,
                  f"the paused worker's job was taken over and succeeded ({final['status']}, attempt {final['attempt']})")
    finally:
        for server in [api] + workers + locals().get("replacements", []):
            try:
                server.process.send_signal(signal.SIGCONT)
            except Exception:
                pass
            server.stop()
        try:
            psql(base_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        except Exception:
            pass
    print(f"scale test: {'passed' if not failures else f'{len(failures)} FAILED'}")
    return not failures


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1]) else 1)
