"""Crash test for training: kill -9 the real server during cluster.iic and cluster.scan jobs, restart it on
the same data directory, and prove each job resumed from its last per-epoch checkpoint and ended with
exactly the assignments of an uninterrupted run of the same parameters.

IIC and RUC (on a k-means job) are killed once, a few epochs in. SCAN is killed twice — in the middle of its SimCLR pretext, then
in the middle of its SCAN phase — so the epochs (steps) of the job split into a prefix run by attempt 1,
a middle run by attempt 2 and the rest by attempt 3, each exactly once.

Usage: training_crash_test.py PATH/TO/montecluster
"""
import datetime
import sys
import tempfile
import time

from server import Checks, Server

IIC_EPOCHS = 12
IIC = {"dataset": "generated:shapes", "k": 4, "epochs": IIC_EPOCHS, "batch_size": 32, "generated_samples": 400, "seed": 7}
SCAN = {"dataset": "generated:shapes", "k": 4, "pretext_epochs": 6, "pretext_batch_size": 64, "scan_epochs": 8,
        "scan_batch_size": 32, "self_label_epochs": 3, "confidence_threshold": 0.9, "ema_decay": 0.9,
        "neighbours": 5, "generated_samples": 300, "seed": 3}
SCAN_STEPS = 6 + 1 + 8 + 3
RUC_EPOCHS = 12
RUC = {"epochs": RUC_EPOCHS, "batch_size": 32, "seed": 2}
check = Checks()


def wait_terminal(server, job_id, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, _, job = server.request("GET", f"/v1/jobs/{job_id}?wait=10")
        if job["terminal"]:
            return job
    raise RuntimeError(f"{job_id} did not finish")


def count(server, job_id, metric):
    _, _, metrics = server.request("GET", f"/v1/jobs/{job_id}/metrics?name={metric}")
    return len(metrics["metrics"])


def kill_when(server, job_id, metric, at_least, timeout=300):
    """Kills the server -9 once `metric` has `at_least` points; returns how many it had."""
    deadline = time.time() + timeout
    seen = 0
    while time.time() < deadline:
        seen = count(server, job_id, metric)
        if seen >= at_least:
            break
        time.sleep(0.05)
    server.kill9()
    return seen


def check_attempts(server, job_id, steps, restarts, label):
    """Every step recorded once; attempts are non-decreasing in step order, each a contiguous block. Which
    attempt ran a step is told by the time of its metrics: after the i-th restart means attempt i + 1."""
    _, _, metrics = server.request("GET", f"/v1/jobs/{job_id}/metrics")
    first_time = {}
    recorded = {}
    for m in metrics["metrics"]:
        t = datetime.datetime.fromisoformat(m["time"].replace("Z", "+00:00")).timestamp()
        first_time[m["step"]] = min(t, first_time.get(m["step"], t))
        recorded.setdefault(m["name"], []).append(m["step"])
    once = all(len(v) == len(set(v)) for v in recorded.values())
    check(sorted(first_time) == list(range(1, steps + 1)) and once,
          f"{label}: every step recorded exactly once ({len(first_time)} of {steps})")
    attempts = [1 + sum(first_time.get(s, 0) >= r for r in restarts) for s in range(1, steps + 1)]
    check(attempts == sorted(attempts), f"{label}: each attempt continued where the previous one's checkpoint left off ({attempts})")
    check(set(attempts) == set(range(1, len(restarts) + 2)), f"{label}: every attempt did part of the work ({sorted(set(attempts))})")
    return attempts


def same_as_uninterrupted(server, kind, params, job_id, label):
    status, _, fresh = server.request("POST", "/v1/jobs", {"kind": kind, "params": params})
    assert status == 201, (status, fresh)
    fresh = wait_terminal(server, fresh["id"])
    check(fresh["status"] == "succeeded", f"{label}: uninterrupted run succeeded")
    _, _, resumed_csv = server.request("GET", f"/v1/jobs/{job_id}/artifacts/assignments.csv")
    _, _, fresh_csv = server.request("GET", f"/v1/jobs/{fresh['id']}/artifacts/assignments.csv")
    check(resumed_csv == fresh_csv and len(resumed_csv) > 100, f"{label}: resumed and uninterrupted runs assign identically")


def start_job(binary, kind, params):
    """A one-worker server on a fresh data directory, running one job: (data_dir, server, job id)."""
    data_dir = tempfile.mkdtemp(prefix="montecluster-training-crash-")
    server = Server(binary, data_dir, workers=1).start()
    status, _, job = server.request("POST", "/v1/jobs", {"kind": kind, "params": params})
    assert status == 201, (status, job)
    return data_dir, server, job["id"]


def resumed(server, job_id, steps, restarts, label):
    """After the last restart: the job succeeded on attempt len(restarts) + 1, each step done once, in order."""
    job = wait_terminal(server, job_id)
    check(job["status"] == "succeeded", f"{label}: resumed job succeeded ({job['status']}: {job.get('reason')})")
    check(job["attempt"] == len(restarts) + 1, f"{label}: ran {len(restarts) + 1} times (attempt {job['attempt']})")
    # The job's log tells each resumption (issue 16): one "resuming from the checkpoint" line per restart.
    _, _, log = server.request("GET", f"/v1/jobs/{job_id}/logs")
    log = log.decode() if isinstance(log, bytes) else str(log)
    resumes = log.count("resuming from the checkpoint at step")
    check(resumes == len(restarts), f"{label}: the log tells each resumption ({resumes} of {len(restarts)})")
    return check_attempts(server, job_id, steps, restarts, label)


def iic(binary):
    data_dir, server, job_id = start_job(binary, "cluster.iic", IIC)
    done = kill_when(server, job_id, "loss_main", 3)
    print(f"IIC: killed -9 after {done} epochs of {IIC_EPOCHS}")
    check(3 <= done < IIC_EPOCHS, f"IIC: killed mid-training (after {done} epochs)")
    restarts = [time.time()]
    restarted = Server(binary, data_dir, workers=1).start()
    try:
        attempts = resumed(restarted, job_id, IIC_EPOCHS, restarts, "IIC")
        # Epoch e's metrics can be flushed only after epoch e − 1's checkpoint committed.
        check(attempts.count(1) >= done - 1, f"IIC: epochs up to the checkpoint were kept from attempt 1 ({attempts}, saw {done})")
        print(f"  IIC resumed after epoch {attempts.count(1)} of {IIC_EPOCHS}")
        same_as_uninterrupted(restarted, "cluster.iic", IIC, job_id, "IIC")
    finally:
        restarted.stop()


def scan(binary):
    data_dir, server, job_id = start_job(binary, "cluster.scan", SCAN)
    done = kill_when(server, job_id, "pretext_loss", 2)
    print(f"SCAN: killed -9 after {done} pretext epochs of {SCAN['pretext_epochs']}")
    check(2 <= done < SCAN["pretext_epochs"], f"SCAN: first kill in the middle of the pretext (after {done} epochs)")
    restarts = [time.time()]
    second = Server(binary, data_dir, workers=1).start()
    done = kill_when(second, job_id, "scan_loss", 3)
    print(f"SCAN: killed -9 again after {done} SCAN epochs of {SCAN['scan_epochs']}")
    check(3 <= done < SCAN["scan_epochs"], f"SCAN: second kill in the middle of the SCAN phase (after {done} epochs)")
    restarts.append(time.time())
    third = Server(binary, data_dir, workers=1).start()
    try:
        attempts = resumed(third, job_id, SCAN_STEPS, restarts, "SCAN")
        print(f"  SCAN steps by attempt: {attempts}")
        for metric, points in (("pretext_loss", 6), ("neighbour_agreement", 1), ("scan_loss", 8), ("self_label_loss", 3)):
            check(count(third, job_id, metric) == points, f"SCAN: {metric} recorded {points} times across the attempts")
        _, _, result = third.request("GET", f"/v1/jobs/{job_id}/result")
        check(result.get("result", result).get("pretext_ran") is True, "SCAN: the result says the pretext ran")
        same_as_uninterrupted(third, "cluster.scan", SCAN, job_id, "SCAN")
    finally:
        third.stop()


def ruc(binary):
    """cluster.ruc on a k-means job: killed -9 mid-training (its two networks take turns within an epoch, each
    network's epoch a checkpoint), resumed, and equal to an uninterrupted run on the same source."""
    data_dir = tempfile.mkdtemp(prefix="montecluster-training-crash-")
    server = Server(binary, data_dir, workers=1).start()
    status, _, source = server.request(
        "POST", "/v1/jobs", {"kind": "cluster.kmeans", "params": {"dataset": "generated:shapes", "k": 4, "generated_samples": 600, "seed": 2}})
    assert status == 201, (status, source)
    wait_terminal(server, source["id"])
    params = dict(RUC, source_job=source["id"])
    status, _, job = server.request("POST", "/v1/jobs", {"kind": "cluster.ruc", "params": params})
    assert status == 201, (status, job)
    done = kill_when(server, job["id"], "clean_size", 3)
    print(f"RUC: killed -9 after {done} epochs of {RUC_EPOCHS}")
    check(3 <= done < RUC_EPOCHS, f"RUC: killed mid-training (after {done} epochs)")
    restarts = [time.time()]
    restarted = Server(binary, data_dir, workers=1).start()
    try:
        attempts = resumed(restarted, job["id"], RUC_EPOCHS, restarts, "RUC")
        print(f"  RUC resumed after epoch {attempts.count(1)} of {RUC_EPOCHS}")
        same_as_uninterrupted(restarted, "cluster.ruc", params, job["id"], "RUC")
    finally:
        restarted.stop()


def main(binary):
    iic(binary)
    scan(binary)
    ruc(binary)
    print(f"training crash recovery: {check.passed} passed, {check.failed} failed")
    return 0 if check.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
