"""Every public method of the client against a real server: jobs, datasets, metrics, artifacts, plots, logs, predict,
progress over SSE (including a dropped connection) and problems raised as exceptions."""
import io
import socket
import threading
import xml.etree.ElementTree as ElementTree

import numpy as np
import pandas
import pytest

import montecluster
from montecluster import JobFailedError, MonteClusterError

MCMC_MODEL = "parameters { real mu; real<lower=0> sigma; } model { mu ~ normal(1, 1); sigma ~ lognormal(0, 0.5); }"


def blobs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [0, 6]], dtype=np.float32)
    labels = rng.integers(0, 3, size=n)
    return (centres[labels] + rng.normal(size=(n, 2))).astype(np.float32), labels.astype(np.int64)


def test_submit_wait_result_metrics_artifacts_plots(mc, capsys):
    job = mc.submit("cluster.kmeans", dataset="generated:blobs", k=3, generated_samples=300, seed=1, tags=["client-test"], name="km")
    assert job.status in ("queued", "running", "succeeded")
    assert job.wait(progress=True, timeout=120) is job
    assert job.status == "succeeded" and job.done
    result = job.result()
    assert result["k"] == 3 and result["scores"]["acc"] > 0.9
    assignments = job.artifact("assignments.npy")
    assert isinstance(assignments, np.ndarray) and assignments.shape == (300,)
    table = job.artifact("assignments.csv")
    assert isinstance(table, pandas.DataFrame) and list(table.columns[:2]) == ["index", "cluster"]
    assert (table["cluster"].to_numpy() == assignments).all()
    assert {a["name"] for a in job.artifacts()} >= {"assignments.npy", "assignments.csv"}
    plots = {p["name"] for p in job.plots()}
    assert {"sizes", "pca", "confusion"} <= plots
    svg = job.plot("sizes", display=False)
    svg_bytes = svg if isinstance(svg, bytes) else svg.data.encode()
    assert ElementTree.fromstring(svg_bytes).tag.endswith("svg")
    png = job.plot("pca", format="png", display=False)
    png_bytes = png if isinstance(png, bytes) else png.data
    assert png_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    assert "status succeeded" in job.logs()
    again = mc.job(job.id)
    assert again.id == job.id and again.kind == "cluster.kmeans" and again.name == "km"


def test_metrics_are_a_wide_dataframe_indexed_by_step(mc):
    job = mc.submit("demo.count", steps=6, step_ms=0, seed=3).wait(timeout=60)
    frame = job.metrics()
    assert isinstance(frame, pandas.DataFrame)
    assert frame.index.name == "step" and list(frame.index) == [1, 2, 3, 4, 5, 6]
    assert "value" in frame.columns or len(frame.columns) >= 1
    long = job.metrics(wide=False)
    assert list(long.columns) == ["name", "step", "value", "time"] and len(long) == 6 * len(frame.columns)


def test_events_resume_after_a_dropped_connection(server):
    """A proxy cuts the first event stream after its first events: the client reconnects with Last-Event-ID and sees
    every event exactly once, ending with the terminal status."""
    host, port = server.replace("http://", "").split(":")
    proxy = DroppingProxy(host, int(port), cut_after_bytes=400)
    client = montecluster.Client(f"http://127.0.0.1:{proxy.port}")
    job = client.submit("demo.count", steps=20, step_ms=20, checkpoint_every=5, seed=1)
    events = list(job.events())
    ids = [event["id"] for event in events]
    assert proxy.cuts >= 1, "the proxy dropped a connection"
    assert ids == sorted(set(ids)), "no event repeated or out of order"
    assert ids == list(range(ids[0], ids[0] + len(ids))), "no event lost"
    assert events[-1]["event"] == "status" and events[-1]["data"]["status"] == "succeeded"
    # wait() over the same proxy reaches the end too.
    job2 = client.submit("demo.count", steps=10, step_ms=10, seed=2)
    assert job2.wait(progress=True, timeout=60).status == "succeeded"
    proxy.close()


def test_wait_falls_back_to_long_polling_when_streams_fail(server):
    host, port = server.replace("http://", "").split(":")
    proxy = DroppingProxy(host, int(port), cut_after_bytes=0)  # every event stream is cut at once
    client = montecluster.Client(f"http://127.0.0.1:{proxy.port}")
    job = client.submit("demo.count", steps=5, step_ms=50, seed=4)
    assert job.wait(timeout=60).status == "succeeded"
    assert proxy.cuts >= 5
    proxy.close()


def test_problems_are_exceptions_with_code_and_field(mc):
    with pytest.raises(MonteClusterError) as raised:
        mc.submit("cluster.kmeans", dataset="generated:blobs", k=0)
    assert raised.value.status == 422 and raised.value.code == "out_of_range" and raised.value.field == "params.k"
    assert "at least 1" in raised.value.detail and "params.k" in str(raised.value)
    with pytest.raises(MonteClusterError) as missing:
        mc.job("no-such-job")
    assert missing.value.status == 404 and missing.value.code == "job_not_found"
    failing = mc.submit("sample.mcmc", model="parameters { real x; } model { target += log(-1 - x * x); }").wait(timeout=60)
    assert failing.status == "failed"
    with pytest.raises(JobFailedError) as failed:
        failing.result()
    assert "no finite log density" in str(failed.value)
    with pytest.raises(JobFailedError):
        mc.submit("sample.mcmc", model="parameters { real x; } model { target += log(-1 - x * x); }").wait(timeout=60, raise_on_failure=True)


def test_jobs_iterates_every_page_with_filters(mc):
    tag = "paging-test"
    made = [mc.submit("demo.count", steps=1, step_ms=0, seed=i, tags=[tag]) for i in range(7)]
    listed = list(mc.jobs(tag=tag, page_size=2))
    assert [job.id for job in listed] == [job.id for job in reversed(made)]
    assert all(job.kind == "demo.count" for job in mc.jobs(kind="demo.count", tag=tag))
    for job in made:
        job.wait(timeout=60)
    assert len(list(mc.jobs(status=["succeeded"], tag=tag))) == 7


def test_upload_predict_cancel_delete_and_logs(mc):
    points, labels = blobs()
    dataset = mc.upload(points, labels=labels, name="three blobs")
    assert dataset.id and repr(dataset).startswith("Dataset(")
    assert dataset.refresh().info["name"] == "three blobs"
    assert any(d.id == dataset.id for d in mc.datasets())
    assert mc.dataset(dataset.id).id == dataset.id
    job = mc.submit("cluster.gmm", dataset=dataset, k=3, seed=2).wait(timeout=120)
    assert job.status == "succeeded", job.info
    answer = job.predict(points[:20], labels=labels[:20])
    assert len(answer["assignments"]) == 20 and answer["scores"]["acc"] > 0.9
    # A long job: cancelled while it runs, its log followed to the end.
    long = mc.submit("demo.count", steps=400, step_ms=25, seed=1)
    while mc.job(long.id).status == "queued":
        pass
    long.cancel()
    lines = list(long.logs(follow=True))
    assert lines[-1].endswith("status cancelled: cancelled on request"), lines
    long.delete()
    with pytest.raises(MonteClusterError) as gone:
        long.refresh()
    assert gone.value.code == "job_not_found"
    job.delete()
    dataset.delete()
    with pytest.raises(MonteClusterError) as deleted:
        dataset.refresh()
    assert deleted.value.code == "dataset_not_found"



def test_to_arviz_names_variables_and_coordinates(mc):
    arviz = pytest.importorskip("arviz")
    job = mc.submit("sample.mcmc", model=MCMC_MODEL, chains=2, warmup=200, draws=300, seed=5).wait(timeout=120)
    data = job.to_arviz()
    assert set(data.posterior.data_vars) == {"mu", "sigma"}
    assert data.posterior["mu"].shape == (2, 300)
    summary = arviz.summary(data)
    # Our own R̂ and ESS agree with ArviZ's on the same draws (the result uses the same definitions).
    ours = job.result()["parameters"]
    assert abs(summary.loc["mu", "r_hat"] - ours["mu"]["r_hat"]) < 0.01
    assert abs(summary.loc["mu", "ess_bulk"] - ours["mu"]["ess_bulk"]) / ours["mu"]["ess_bulk"] < 0.02


class DroppingProxy:
    """A loopback TCP proxy that cuts each `/events` response after `cut_after_bytes` bytes: the first one only, or
    every one when `cut_after_bytes` is 0."""

    def __init__(self, host, port, cut_after_bytes):
        self.upstream = (host, port)
        self.cut_after_bytes = cut_after_bytes
        self.cuts = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        upstream = socket.create_connection(self.upstream)
        # Connections are kept alive: whether the response is an event stream is decided by the latest request sent.
        state = {"events": False}
        threading.Thread(target=self._pipe, args=(client, upstream, state, True), daemon=True).start()
        self._pipe(upstream, client, state, False)

    def _pipe(self, source, target, state, requests_direction):
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if requests_direction:
                    if data[:4] in (b"GET ", b"POST", b"DELE", b"HEAD"):
                        state["events"] = b"/events" in data.split(b"\r\n", 1)[0]
                        state["cut"] = state["events"] and (self.cut_after_bytes == 0 or self.cuts == 0)
                    target.sendall(data)
                    continue
                if state.get("cut") and sent + len(data) > self.cut_after_bytes:
                    target.sendall(data[: max(0, self.cut_after_bytes - sent)])
                    self.cuts += 1
                    break
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self):
        self.closed = True
        self.listener.close()


def test_ctrl_c_stops_waiting_and_leaves_the_job_running(mc, server):
    import os
    import signal
    import subprocess
    import sys
    import time
    job = mc.submit("demo.count", steps=300, step_ms=50, seed=9)
    # The child restores Python's Ctrl-C handler: started from a shell running in the background (nohup … &), it
    # inherits SIGINT ignored, and Python then installs no handler, so the signal would be lost. It says when its
    # imports are done, so the signal lands in wait(), not in them.
    script = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); sys.path.insert(0, sys.argv[3]); "
              "import montecluster, tqdm.auto; "
              "job = montecluster.Client(sys.argv[1]).job(sys.argv[2]); print('waiting', flush=True); job.wait(progress=True)")
    process = subprocess.Popen([sys.executable, "-c", script, server, job.id, os.path.join(os.path.dirname(__file__), "..")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "waiting"
    time.sleep(1)  # into wait(): the event stream is open and the bar drawn
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode != 0 and "KeyboardInterrupt" in err
    assert f"job {job.id} is still running" in out, out
    assert mc.job(job.id).status == "running", "Ctrl-C left the job running"
    job.cancel()
