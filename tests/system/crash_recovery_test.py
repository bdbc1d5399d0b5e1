"""Crash test: kill -9 the real server while checkpointing jobs run, restart it on the same data
directory, and prove from the recorded steps that every job finished exactly once and that the
interrupted ones resumed from their last checkpoint rather than from zero.

Usage: crash_recovery_test.py PATH/TO/montecluster
"""
import datetime
import sys
import tempfile
import time

from server import Checks, Server

MASK = (1 << 64) - 1
STEPS, STEP_MS, CHECKPOINT_EVERY = 40, 50, 5


def step_value(seed, step):
    """The same SplitMix64 mapping demo.count uses, so the expected sums are computed independently."""
    z = (seed + step * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return (z >> 11) * 2.0 ** -53


check = Checks()


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main(binary):
    data_dir = tempfile.mkdtemp(prefix="montecluster-crash-")
    server = Server(binary, data_dir, workers=2).start()
    ids = []
    for seed in range(4):
        status, _, job = server.request("POST", "/v1/jobs", {
            "kind": "demo.count",
            "params": {"steps": STEPS, "step_ms": STEP_MS, "checkpoint_every": CHECKPOINT_EVERY, "seed": seed}})
        assert status == 201, (status, job)
        ids.append(job["id"])

    # Kill once two jobs are well into their run (past a few checkpoints) but not done.
    deadline = time.time() + 60
    while time.time() < deadline:
        _, _, page = server.request("GET", "/v1/jobs?status=running")
        progressed = [j for j in page["jobs"] if 0.3 < j["progress"]["fraction"] < 0.8]
        if len(progressed) >= 2:
            break
        time.sleep(0.05)
    _, _, page = server.request("GET", "/v1/jobs?status=running")
    interrupted = {j["id"] for j in page["jobs"]}
    server.kill9()
    killed_at = time.time()
    print(f"killed -9 with {len(interrupted)} jobs running")
    check(len(interrupted) == 2, f"two jobs were running at the kill, saw {len(interrupted)}")

    restarted_at = time.time()
    restarted = Server(binary, data_dir, workers=2).start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            _, _, page = restarted.request("GET", "/v1/jobs?page_size=200")
            if all(j["terminal"] for j in page["jobs"]):
                break
            time.sleep(0.1)
        _, _, page = restarted.request("GET", "/v1/jobs?page_size=200&view=full")
        jobs = {j["id"]: j for j in page["jobs"]}
        check(sorted(jobs) == sorted(ids), "no job lost and none duplicated")
        for seed, job_id in enumerate(ids):
            job = jobs[job_id]
            check(job["status"] == "succeeded", f"{job_id} succeeded (was {job['status']}: {job.get('reason')})")
            result = job["result"] or {}
            expected = sum(step_value(seed, s) for s in range(1, STEPS + 1))
            check(abs(result.get("sum", -1) - expected) < 1e-9, f"{job_id} sum {result.get('sum')} == {expected}")
            _, _, metrics = restarted.request("GET", f"/v1/jobs/{job_id}/metrics?name=value")
            steps = [m["step"] for m in metrics["metrics"]]
            check(steps == list(range(1, STEPS + 1)), f"{job_id} recorded each step exactly once")
            # Which run recorded a step is told by its time: before the kill (attempt 1) or after the restart.
            by_step = {m["step"]: 1 if parse_time(m["time"]) < killed_at else 2 if parse_time(m["time"]) >= restarted_at - 0.01 else 0
                       for m in metrics["metrics"]}
            if job_id in interrupted:
                resumed = result.get("resumed_from_step", 0)
                check(job["attempt"] == 2, f"{job_id} ran twice (attempt {job['attempt']})")
                check(resumed > 0 and resumed % CHECKPOINT_EVERY == 0,
                      f"{job_id} resumed from a checkpoint, not from zero (resumed_from_step={resumed})")
                check(result.get("first_step_this_attempt") == resumed + 1,
                      f"{job_id} restarted at the step after its checkpoint")
                check(all(by_step[s] == 1 for s in range(1, resumed + 1)),
                      f"{job_id} steps up to the checkpoint were done by attempt 1")
                check(all(by_step[s] == 2 for s in range(resumed + 1, STEPS + 1)),
                      f"{job_id} steps after the checkpoint were done by attempt 2")
                print(f"  {job_id}: resumed from step {resumed} of {STEPS}")
            else:
                check(job["attempt"] == 1 and result.get("resumed_from_step") == 0, f"{job_id} (never started) ran once from zero")
    finally:
        restarted.stop()
    print(f"crash recovery: {check.passed} passed, {check.failed} failed")
    return 0 if check.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
