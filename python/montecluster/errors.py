"""Errors: every problem+json answer of the server becomes a MonteClusterError with its code, field and detail."""
from __future__ import annotations

from typing import Any, Dict, Optional


class MonteClusterError(Exception):
    """A request the server refused: `status` (HTTP), `code` (stable, e.g. "invalid_value"), `field` (the offending
    input, e.g. "params.k"), `detail` (why), `title`."""

    def __init__(self, status: int, code: Optional[str], detail: str, field: Optional[str] = None, title: Optional[str] = None,
                 problem: Optional[Dict[str, Any]] = None):
        self.status = status
        self.code = code
        self.field = field
        self.detail = detail
        self.title = title
        self.problem = problem or {}
        where = f" ({field})" if field else ""
        super().__init__(f"{status} {code or 'error'}{where}: {detail}")

    @classmethod
    def from_response(cls, response) -> "MonteClusterError":
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        detail = problem.get("detail") or response.text[:500] or response.reason
        return cls(response.status_code, problem.get("code"), detail, problem.get("field"), problem.get("title"), problem)


class JobFailedError(Exception):
    """The job ended without a result (failed or cancelled); `job.reason` says why."""

    def __init__(self, job):
        self.job = job
        super().__init__(f"job {job.id} ({job.kind}) {job.status}: {job.info.get('reason') or 'no reason given'}")
