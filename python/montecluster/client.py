"""The MonteCluster client: jobs, datasets, metrics, artifacts, plots and progress over the REST API."""
from __future__ import annotations

import io
import json
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import requests

from .errors import JobFailedError, MonteClusterError
from .events import EventStream

TERMINAL = ("succeeded", "failed", "cancelled")
# Keyword arguments of submit() that are the job's own fields, not the kind's parameters.
JOB_FIELDS = ("name", "tags", "priority", "max_attempts", "metadata")


def _optional(module: str, extra: str, purpose: str):
    try:
        return __import__(module)
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(f"{purpose} needs {module}: pip install 'montecluster[{extra}]'") from error


class Client:
    """A MonteCluster server. `token` is an API token (needed off loopback)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8080", token: Optional[str] = None, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "montecluster-python/1.0"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # Transport

    def request(self, method: str, path: str, *, expect_json: bool = True, **kwargs) -> Any:
        """Sends a request; a problem+json answer (any 4xx/5xx) is raised as MonteClusterError."""
        kwargs.setdefault("timeout", self.timeout)
        response = self.session.request(method, self.base_url + path, **kwargs)
        if response.status_code >= 400:
            raise MonteClusterError.from_response(response)
        if not expect_json:
            return response
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # Jobs

    def submit(
        self,
        kind: str,
        params: Optional[Dict[str, Any]] = None,
        *,
        idempotency_key: Optional[str] = None,
        name: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        priority: Optional[int] = None,
        max_attempts: Optional[int] = None,
        metadata: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> "Job":
        """Submits a job: `mc.submit("cluster.scan", dataset=ds, k=10)`. Parameters come as keywords (or as `params`
        when one is named like a job field); a Dataset or Job given as a value stands for its id."""
        merged = dict(params or {})
        merged.update(kwargs)
        body: Dict[str, Any] = {"kind": kind, "params": {key: _reference(value) for key, value in merged.items()}}
        for field, value in (("name", name), ("priority", priority), ("max_attempts", max_attempts), ("metadata", metadata)):
            if value is not None:
                body[field] = value
        if tags is not None:
            body["tags"] = list(tags)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return Job(self, self.request("POST", "/v1/jobs", json=body, headers=headers))

    def job(self, job_id: str) -> "Job":
        return Job(self, self.request("GET", f"/v1/jobs/{job_id}"))

    def jobs(
        self,
        status: Union[str, Sequence[str], None] = None,
        kind: Union[str, Sequence[str], None] = None,
        tag: Optional[str] = None,
        name: Optional[str] = None,
        page_size: int = 100,
    ) -> Iterator["Job"]:
        """Every job matching the filters, newest first, fetching page after page as it is iterated."""
        query: Dict[str, Any] = {"page_size": page_size}
        if status:
            query["status"] = status if isinstance(status, str) else ",".join(status)
        if kind:
            query["kind"] = kind if isinstance(kind, str) else ",".join(kind)
        if tag:
            query["tag"] = tag
        if name:
            query["name"] = name
        while True:
            page = self.request("GET", "/v1/jobs", params=query)
            for entry in page["jobs"]:
                yield Job(self, entry)
            token = page.get("next_page_token")
            if not token:
                return
            query["page_token"] = token

    def kinds(self) -> List[Dict[str, Any]]:
        """The job kinds with their parameter schemas, defaults, examples and metrics."""
        return self.request("GET", "/v1/kinds")["kinds"]

    # Datasets

    def upload(
        self,
        data: Union[np.ndarray, str, os.PathLike],
        labels: Union[np.ndarray, Sequence[int], str, os.PathLike, None] = None,
        name: Optional[str] = None,
        label_column: Optional[str] = None,
    ) -> "Dataset":
        """Uploads an array (sent as .npy) or a file (.npy, IDX, CSV, optionally gzip-compressed) as a dataset."""
        files = {"data": _file_part(data, "data")}
        if labels is not None:
            files["labels"] = _file_part(np.asarray(labels) if isinstance(labels, (list, tuple)) else labels, "labels")
        fields = {}
        if name is not None:
            fields["name"] = name
        if label_column is not None:
            fields["label_column"] = label_column
        answer = self.request("POST", "/v1/datasets", files=files, data=fields, timeout=max(self.timeout, 600))
        return Dataset(self, answer)

    def dataset(self, dataset_id: str) -> "Dataset":
        return Dataset(self, self.request("GET", f"/v1/datasets/{dataset_id}"))

    def datasets(self) -> List["Dataset"]:
        return [Dataset(self, entry) for entry in self.request("GET", "/v1/datasets")["datasets"]]


def _reference(value: Any) -> Any:
    if isinstance(value, (Dataset, Job)):
        return value.id
    return value


def _file_part(value: Any, field: str):
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(value), allow_pickle=False)
        return (f"{field}.npy", buffer.getvalue(), "application/octet-stream")
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        return (os.path.basename(path), open(path, "rb"), "application/octet-stream")
    raise TypeError(f"{field}: give a numpy array or a file path, not {type(value).__name__}")


class Dataset:
    """An uploaded dataset: `id`, `info` (shape, layout, label counts…)."""

    def __init__(self, client: Client, info: Dict[str, Any]):
        self.client = client
        self.info = info
        self.id: str = info["id"]

    def __repr__(self) -> str:
        return f"Dataset({self.id!r}, name={self.info.get('name')!r}, samples={self.info.get('samples', self.info.get('count'))})"

    def refresh(self) -> "Dataset":
        self.info = self.client.request("GET", f"/v1/datasets/{self.id}")
        return self

    def delete(self) -> None:
        self.client.request("DELETE", f"/v1/datasets/{self.id}")


class Job:
    """A job on the server. Attributes mirror its JSON (`job.status`, `job.progress`, `job.reason`…) as of the last
    refresh; methods fetch what it produced."""

    def __init__(self, client: Client, info: Dict[str, Any]):
        self.client = client
        self.info = info
        self.id: str = info["id"]

    def __repr__(self) -> str:
        return f"Job({self.id!r}, kind={self.kind!r}, status={self.status!r})"

    def __getattr__(self, name: str) -> Any:
        info = self.__dict__.get("info", {})
        if name in info:
            return info[name]
        raise AttributeError(name)

    @property
    def path(self) -> str:
        return f"/v1/jobs/{self.id}"

    @property
    def done(self) -> bool:
        return self.info.get("status") in TERMINAL

    def refresh(self) -> "Job":
        self.info = self.client.request("GET", self.path)
        return self

    # Following a job

    def events(self, last_event_id: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """The job's events (`{"id", "event", "data"}`) from the start or after `last_event_id`, until its terminal
        status; a dropped connection is resumed with Last-Event-ID, so none is lost or repeated."""
        return iter(EventStream(self.client, self.id, last_event_id))

    def wait(self, progress: bool = False, timeout: Optional[float] = None, raise_on_failure: bool = False) -> "Job":
        """Blocks until the job has finished and returns it. `progress=True` shows a tqdm bar (phase, epoch, latest
        metric) fed by the event stream (long-polling when streaming fails). Ctrl-C stops waiting; the job runs on."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        try:
            bar = _ProgressBar(self) if progress else None  # inside: tqdm's first import can take seconds, and Ctrl-C may land in it
            stream = EventStream(self.client, self.id, None, deadline=deadline)
            for event in stream:
                if bar is not None:
                    bar.update(event)
            self.refresh()
            if not self.done:  # the stream gave up (a proxy that buffers it, say) or the time ran out
                self._long_poll(deadline, bar)
        except KeyboardInterrupt:
            print(f"\nstopped waiting; job {self.id} is still {self.refresh().status} on the server (job.cancel() stops it)")
            raise
        finally:
            if bar is not None:
                bar.close(self.info)
        if not self.done:
            raise TimeoutError(f"job {self.id} is still {self.status} after {timeout} s")
        if raise_on_failure and self.status != "succeeded":
            raise JobFailedError(self)
        return self

    def _long_poll(self, deadline: Optional[float], bar: Optional["_ProgressBar"]) -> None:
        etag = None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            wait = 30 if remaining is None else max(1, min(30, int(remaining)))
            headers = {"If-None-Match": etag} if etag else {}
            response = self.client.request("GET", self.path, params={"wait": wait}, headers=headers, expect_json=False,
                                           timeout=wait + self.client.timeout)
            if response.status_code == 200:
                self.info = response.json()
                etag = response.headers.get("ETag")
                if bar is not None:
                    bar.update({"event": "progress", "data": self.info.get("progress") or {}})
            if self.done:
                return

    def logs(self, follow: bool = False) -> Union[str, Iterator[str]]:
        """The job's log as text; with `follow=True`, an iterator over its lines as they come, until the job ends."""
        if not follow:
            return self.client.request("GET", f"{self.path}/logs", expect_json=False).text
        response = self.client.request("GET", f"{self.path}/logs", params={"follow": "true"}, expect_json=False, stream=True,
                                       timeout=(self.client.timeout, None))
        return (line for line in response.iter_lines(decode_unicode=True) if line)

    # What a job produced

    def result(self) -> Dict[str, Any]:
        """The result summary of a succeeded job (a failed one raises JobFailedError, a running one MonteClusterError)."""
        try:
            return self.client.request("GET", f"{self.path}/result")["result"]
        except MonteClusterError as error:
            if error.code == "no_result":
                raise JobFailedError(self.refresh()) from error
            raise

    def metrics(self, names: Optional[Sequence[str]] = None, wide: bool = True):
        """Metric history as a pandas DataFrame: wide (one column per metric, indexed by step) or long (name, step,
        value, time)."""
        pandas = _optional("pandas", "pandas", "job.metrics()")
        points: List[Dict[str, Any]] = []
        query: Dict[str, Any] = {"limit": 100000}
        if names:
            query["name"] = ",".join(names)
        while True:
            page = self.client.request("GET", f"{self.path}/metrics", params=query)
            points.extend(page["metrics"])
            if not page.get("next_page_token"):
                break
            query["page_token"] = page["next_page_token"]
        frame = pandas.DataFrame(points, columns=["name", "step", "value", "time"])
        frame["value"] = pandas.to_numeric(frame["value"], errors="coerce")
        if not wide:
            return frame
        table = frame.pivot_table(index="step", columns="name", values="value", aggfunc="last", dropna=False)
        table.columns.name = None
        return table

    def artifacts(self) -> List[Dict[str, Any]]:
        """The artifacts' names, media types, sizes and digests."""
        return self.client.request("GET", f"{self.path}/artifacts")["artifacts"]

    def artifact_bytes(self, name: str) -> bytes:
        return self.client.request("GET", f"{self.path}/artifacts/{name}", expect_json=False).content

    def artifact(self, name: str) -> Any:
        """An artifact, decoded: `.npy` → numpy.ndarray, `.csv` → pandas.DataFrame, `.json` → dict or list,
        `.ndjson` → list, anything else → bytes."""
        data = self.artifact_bytes(name)
        if name.endswith(".npy"):
            return np.load(io.BytesIO(data), allow_pickle=False)
        if name.endswith(".csv"):
            pandas = _optional("pandas", "pandas", "reading a .csv artifact")
            return pandas.read_csv(io.BytesIO(data))
        if name.endswith(".json"):
            return json.loads(data)
        if name.endswith(".ndjson"):
            return [json.loads(line) for line in data.splitlines() if line.strip()]
        return data

    def download(self, name: str, path: Union[str, os.PathLike, None] = None) -> str:
        """Saves an artifact to `path` (default: its name in the current folder), streaming it."""
        target = os.fspath(path) if path is not None else name
        response = self.client.request("GET", f"{self.path}/artifacts/{name}", expect_json=False, stream=True)
        with open(target, "wb") as handle:
            for chunk in response.iter_content(1 << 20):
                handle.write(chunk)
        return target

    def plots(self) -> List[Dict[str, Any]]:
        """The plots this job can show (name, title, description, svg and png paths)."""
        return self.client.request("GET", f"{self.path}/plots")["plots"]

    def plot(self, name: str, format: str = "svg", display: bool = True, **options: str):
        """Draws a plot on the server. In Jupyter it is shown inline (or, with `display=False`, returned as IPython's SVG
        or Image); elsewhere the SVG or PNG bytes are returned. Options: the pair plot's `x=` and `y=` coordinate names."""
        if format not in ("svg", "png"):
            raise ValueError("format is svg or png")
        data = self.client.request("GET", f"{self.path}/plots/{name}.{format}", params=options or None, expect_json=False).content
        try:
            from IPython import get_ipython
            shell = get_ipython()
        except ImportError:
            shell = None
        if shell is None:  # a script or a terminal: the bytes, to save or hand to another library
            return data
        from IPython.display import SVG, Image, display as show
        figure = SVG(data=data) if format == "svg" else Image(data=data, format="png")
        if display:
            show(figure)
            return None
        return figure

    def predict(self, data: Union[np.ndarray, str, os.PathLike], labels: Union[np.ndarray, Sequence[int], None] = None) -> Dict[str, Any]:
        """Assigns clusters (or classes) to new samples with this job's trained model."""
        files = {"data": _file_part(data, "data")}
        if labels is not None:
            files["labels"] = _file_part(np.asarray(labels), "labels")
        return self.client.request("POST", f"{self.path}/predict", files=files, timeout=max(self.client.timeout, 600))

    def cancel(self) -> "Job":
        self.info = self.client.request("POST", f"{self.path}/cancel")
        return self

    def delete(self) -> None:
        self.client.request("DELETE", self.path)

    def to_arviz(self):
        """The draws as an arviz.InferenceData: variables by name with their shapes (`theta` as theta[0..J)), chains and
        draws as dimensions; divergences as sample_stats when the sampler reported them."""
        arviz = _optional("arviz", "arviz", "job.to_arviz()")
        layout = self.artifact("draws.json")
        draws = self.artifact(layout.get("file", "draws.npy"))
        chains, per_chain = draws.shape[0], draws.shape[1]
        posterior: Dict[str, np.ndarray] = {}
        dims: Dict[str, List[str]] = {}
        for variable in layout["variables"]:
            shape = list(variable["shape"])
            values = draws[:, :, variable["start"]:variable["end"]].reshape([chains, per_chain] + shape)
            posterior[variable["name"]] = values
            if shape:
                dims[variable["name"]] = [f"{variable['name']}_dim_{axis}" for axis in range(len(shape))]
        return arviz.from_dict(posterior=posterior, dims=dims)


class _ProgressBar:
    """tqdm over the job's progress fraction, described by its phase, with the latest metric as postfix."""

    def __init__(self, job: Job):
        try:
            from tqdm.auto import tqdm
        except ImportError:  # progress=True without tqdm: plain lines
            tqdm = None
        self.job = job
        self.bar = tqdm(total=100, desc=job.kind, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]{postfix}") if tqdm else None
        self.shown = 0.0
        self.metrics: Dict[str, Any] = {}
        self.last_print = 0.0

    def update(self, event: Dict[str, Any]) -> None:
        kind, data = event.get("event"), event.get("data") or {}
        if kind == "progress":
            fraction = float(data.get("fraction") or 0) * 100
            phase = data.get("phase")
            if self.bar is not None:
                if phase:
                    self.bar.set_description(f"{self.job.kind} · {phase}", refresh=False)
                if fraction > self.shown:
                    self.bar.update(fraction - self.shown)
                    self.shown = fraction
                if data.get("message"):
                    self.bar.set_postfix_str(self._postfix(data.get("message")), refresh=True)
            elif time.monotonic() - self.last_print > 2:
                self.last_print = time.monotonic()
                print(f"{self.job.id} {phase or ''} {fraction:.0f}% {data.get('message') or ''}")
        elif kind == "metric":
            self.metrics[data.get("name")] = data.get("value")
            if self.bar is not None:
                self.bar.set_postfix_str(self._postfix(None), refresh=False)
        elif kind == "status" and self.bar is not None:
            self.bar.set_postfix_str(self._postfix(data.get("status")), refresh=True)

    def _postfix(self, message: Optional[str]) -> str:
        latest = list(self.metrics.items())[-1:] if self.metrics else []
        parts = [message] if message else []
        parts += [f"{name}={value:.4g}" if isinstance(value, (int, float)) else f"{name}={value}" for name, value in latest]
        return ", ".join(parts)

    def close(self, info: Dict[str, Any]) -> None:
        if self.bar is None:
            return
        if info.get("status") == "succeeded" and self.shown < 100:
            self.bar.update(100 - self.shown)
        self.bar.set_postfix_str(self._postfix(info.get("status")), refresh=True)
        self.bar.close()
