"""The review page's decisions before they are sent to the paused run: ``<run>/review/decisions.json``.

Reviewers decide creative by creative (or in bulk); each decision is kept here, signed with the
reviewer's token when reviewers are configured, until someone sends them all to the run in one
:class:`~brandflow.review.decisions.ReviewAnswer`. The file is changed under an exclusive ``flock`` so
that two reviewers (two browser tabs, two ``brandflow review`` processes) never overwrite each other:
the first decision on a creative stands and a second one is refused naming who decided, and once the
decisions are sent nothing more is accepted — nothing can be published twice.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from brandflow.imageio import write_atomic
from brandflow.manifest import RunManifest
from brandflow.review import reviewers
from brandflow.review.decisions import ReviewAnswer, SignedDecision


class DecisionRefused(Exception):
    """A decision the ledger does not take; ``status`` is the HTTP status the review page answers with."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass
class Reviewer:
    """Who is deciding: the name, whether a token proved it, and the token (to sign with; never stored)."""

    name: str
    verified: bool
    token: str = ""


def awaiting(manifest: RunManifest) -> dict[str, str]:
    """Job id → status for the creatives waiting for a decision in ``manifest`` (decision ``pending``)."""
    return {j.job_id: j.status for j in manifest.jobs if j.decision is not None and j.decision.verdict == "pending"}


class Ledger:
    """The decisions file of one run folder."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / "review"
        self.path = self.dir / "decisions.json"

    def read(self) -> dict[str, Any]:
        """``{"decisions": {job_id: {...}}, "sent": None | {"by", "at", "answer"}}``."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"decisions": {}, "sent": None}

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            yield data
            write_atomic(self.path, json.dumps(data, indent=1, ensure_ascii=False).encode())

    def record(self, manifest: RunManifest, job_ids: list[str], verdict: Literal["approved", "rejected"], reason: str,
               who: Reviewer) -> list[str]:
        """Keep one decision per job id; returns the ids decided.

        Raises:
            DecisionRefused: no job given (400), decisions already sent (409), an unknown job (404), a job
                that is not awaiting a decision (409: names its status), one already decided (409: names who
                and when), a reject without a reason (400) — in that order.
        """
        reason = reason.strip()
        if not job_ids:
            raise DecisionRefused("select at least one creative", 400)
        waiting = awaiting(manifest)
        statuses = {j.job_id: j.status for j in manifest.jobs}
        with self._locked() as data:
            if data["sent"]:
                raise DecisionRefused(f"the decisions of this run were already sent by {data['sent']['by']} at {data['sent']['at']}; "
                                      "nothing more can be decided here")
            for job_id in job_ids:
                if job_id not in statuses:
                    raise DecisionRefused(f"{job_id}: no such creative in this run", 404)
                if job_id not in waiting:
                    status = statuses[job_id]
                    why = "failed QA: never published" if status == "failed" else "errored: nothing to publish" if status == "error" else \
                        "already decided by the run" if status == "published" else f"{status}, not awaiting a decision"
                    raise DecisionRefused(f"{job_id} is not under review ({why})")
                if job_id in data["decisions"]:
                    d = data["decisions"][job_id]
                    raise DecisionRefused(f"{job_id} was already {d['verdict']} by {d['by']} at {d['at']}"
                                          + (f" ({d['reason']})" if d["reason"] else "") + "; one decision per creative")
            if verdict == "rejected" and not reason:
                raise DecisionRefused("say why you reject: the reason goes into the manifest and to whoever fixes the creative", 400)
            at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            for job_id in job_ids:
                one = SignedDecision(job_id=job_id, verdict=verdict, reason=reason, by=who.name, at=at)
                if who.token:
                    one.signature = reviewers.sign(who.token, one.payload(manifest.flow_run_id))
                data["decisions"][job_id] = {**one.model_dump(), "verified": who.verified}
        return job_ids

    def answer(self, who: Reviewer) -> ReviewAnswer:
        """Every kept decision as one answer for the run (undecided creatives are then not published)."""
        data = self.read()
        fields = SignedDecision.model_fields
        return ReviewAnswer(reviewer=who.name, decisions=[SignedDecision(**{k: v for k, v in d.items() if k in fields})
                                                          for d in data["decisions"].values()])

    @contextmanager
    def sending(self, who: Reviewer) -> Iterator[ReviewAnswer]:
        """Send once: yields the answer under the lock; marks the decisions sent when the block succeeds.

        Raises:
            DecisionRefused: already sent (409, naming who and when), or nothing decided yet (400).
        """
        with self._locked() as data:
            if data["sent"]:
                raise DecisionRefused(f"already sent by {data['sent']['by']} at {data['sent']['at']}: the run has its decisions")
            if not data["decisions"]:
                raise DecisionRefused("nothing decided yet: approve or reject creatives first", 400)
            answer = self.answer(who)
            yield answer
            data["sent"] = {"by": who.name, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
