"""Server-Sent Events of a job, resumed with Last-Event-ID after a dropped connection."""
from __future__ import annotations

import json
import time
from typing import Any, Dict, Iterator, Optional

import requests

TERMINAL = ("succeeded", "failed", "cancelled")


class EventStream:
    """Iterates over a job's events until its terminal status event. A dropped connection is reopened with the last
    event id seen (so nothing is lost or repeated); after `max_failures` failed reconnections in a row the stream
    gives up and sets `fell_back`, and the caller long-polls instead."""

    def __init__(self, client, job_id: str, last_event_id: Optional[int] = None, deadline: Optional[float] = None,
                 max_failures: int = 5):
        self.client = client
        self.job_id = job_id
        self.last_event_id = last_event_id
        self.deadline = deadline
        self.max_failures = max_failures
        self.fell_back = False
        self.reconnections = 0

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        failures = 0
        while True:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return
            headers = {"Accept": "text/event-stream"}
            if self.last_event_id is not None:
                headers["Last-Event-ID"] = str(self.last_event_id)
            try:
                # The read timeout outlasts the server's keep-alive comments (15 s by default).
                response = self.client.request("GET", f"/v1/jobs/{self.job_id}/events", headers=headers, expect_json=False,
                                               stream=True, timeout=(self.client.timeout, 60))
                finished = False
                for event in self._parse(response):
                    failures = 0
                    yield event
                    if event["event"] == "status" and event["data"].get("status") in TERMINAL:
                        finished = True
                response.close()
                if finished:
                    return
                # The server ends the stream only after the terminal event (or when it shuts down): reconnect.
                raise requests.ConnectionError("the event stream ended early")
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                failures += 1
                self.reconnections += 1
                if failures > self.max_failures:
                    self.fell_back = True
                    return
                time.sleep(min(2.0, 0.2 * 2 ** failures))

    def _parse(self, response) -> Iterator[Dict[str, Any]]:
        fields: Dict[str, str] = {}
        for raw in response.iter_lines(decode_unicode=True):
            line = raw if raw is not None else ""
            if line == "":
                if "data" in fields:
                    event = {"id": int(fields["id"]) if fields.get("id", "").isdigit() else None,
                             "event": fields.get("event", "message"), "data": json.loads(fields["data"])}
                    if event["id"] is not None:
                        self.last_event_id = event["id"]
                    yield event
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and "data" in fields:
                fields["data"] += "\n" + value
            elif name in ("id", "event", "data", "retry"):
                fields[name] = value
