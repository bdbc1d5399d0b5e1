"""Crash test for training: kill -9 the real server during a cluster.iic job, restart it on the same
data directory, and prove the job resumed from its last per-epoch checkpoint (epochs before it done by
attempt 1, after it by attempt 2, each exactly once) and ended with exactly the assignments of an
uninterrupted run of the same parameters.

Usage: iic_crash_test.py PATH/TO/montecluster
"""
import sys
import tempfile
import time

from server import Checks, Server

EPOCHS = 12
PARAMS = {"dataset": "generated:shapes", "k": 4, "epochs": EPOCHS, "batch_size": 32, "generated_samples": 400, "seed": 7}
check = Checks()


def wait_terminal(server, job_id, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, _, job = server.request("GET", f"/v1/jobs/{job_id}?wait=10")
        if job["terminal"]:
            return job
    raise RuntimeError(f"{job_id} did not finish")


def main(binary):
    data_dir = tempfile.mkdtemp(prefix="montecluster-iic-crash-")
    server = Server(binary, data_dir, workers=1).start()
    status, _, job = server.request("POST", "/v1/jobs", {"kind": "cluster.iic", "params": PARAMS})
    assert status == 201, (status, job)
    job_id = job["id"]
    # Kill after a few epochs have been checkpointed, well before the end.
    deadline = time.time() + 300
    done = 0
    while time.time() < deadline:
        _, _, metrics = server.request("GET", f"/v1/jobs/{job_id}/metrics?name=loss_main")
        done = len(metrics["metrics"])
        if done >= 3:
            break
        time.sleep(0.05)
    server.kill9()
    print(f"killed -9 after {done} epochs of {EPOCHS}")
    check(3 <= done < EPOCHS, f"killed mid-training (after {done} epochs)")

    restarted = Server(binary, data_dir, workers=1).start()
    try:
        job = wait_terminal(restarted, job_id)
        check(job["status"] == "succeeded", f"resumed job succeeded ({job['status']}: {job.get('reason')})")
        check(job["attempt"] == 2, f"ran twice (attempt {job['attempt']})")
        _, _, metrics = restarted.request("GET", f"/v1/jobs/{job_id}/metrics?name=attempt")
        by_epoch = {m["step"]: m["value"] for m in metrics["metrics"]}
        check(sorted(by_epoch) == list(range(1, EPOCHS + 1)), "every epoch recorded exactly once")
        first_attempt = [e for e, a in by_epoch.items() if a == 1]
        # Epoch e's metrics can be flushed only after epoch e − 1's checkpoint committed.
        check(len(first_attempt) >= done - 1, f"epochs up to the checkpoint were kept from attempt 1 ({first_attempt}, saw {done})")
        check(first_attempt == list(range(1, len(first_attempt) + 1)), "attempt 1 covers a prefix of the epochs")
        check(all(by_epoch[e] == 2 for e in range(len(first_attempt) + 1, EPOCHS + 1)), "attempt 2 did the rest")
        print(f"  resumed after epoch {len(first_attempt)} of {EPOCHS}")

        # The same parameters without a crash give the same assignments, byte for byte.
        status, _, fresh = restarted.request("POST", "/v1/jobs", {"kind": "cluster.iic", "params": PARAMS})
        assert status == 201, (status, fresh)
        fresh = wait_terminal(restarted, fresh["id"])
        check(fresh["status"] == "succeeded", "uninterrupted run succeeded")
        _, _, resumed_csv = restarted.request("GET", f"/v1/jobs/{job_id}/artifacts/assignments.csv")
        _, _, fresh_csv = restarted.request("GET", f"/v1/jobs/{fresh['id']}/artifacts/assignments.csv")
        check(resumed_csv == fresh_csv and len(resumed_csv) > 100, "resumed and uninterrupted runs assign identically")
    finally:
        restarted.stop()
    print(f"IIC crash recovery: {check.passed} passed, {check.failed} failed")
    return 0 if check.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
