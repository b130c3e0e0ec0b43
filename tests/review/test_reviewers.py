"""Reviewer identity (issue 12 §5): tokens the operator issues, signatures the flow checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brandflow.records import Attempt, JobRecord, QAResult, ReferenceImage, StructuredPrompt, Subject
from brandflow.review import reviewers
from brandflow.review.decisions import ReviewAnswer, SignedDecision, decide
from brandflow.review.reviewers import ReviewerError

RUN = "0b9c6a1e-0000-4000-8000-000000000001"


def _record(product: str, status: str) -> JobRecord:
    verdict = {"published": "pass", "held": "warn", "failed": "fail"}[status]
    return JobRecord(
        job_id=f"{product}/square/v0", product_id=product, format="square", variant=0, backend="compositor",
        prompt=StructuredPrompt(scene="s", subjects=[Subject(description="p")]), overlay={},
        references=[ReferenceImage(path=Path("/x.png"), role="primary_packshot", sha256="0" * 64)],
        attempts=[Attempt(attempt=1, seed=1, qa=QAResult(verdict=verdict, checks=[]))], status=status,
    )


RECORDS = [_record("a", "published"), _record("b", "published"), _record("w", "held"), _record("f", "failed")]


def test_tokens_are_issued_checked_and_revoked():
    token = reviewers.add("Ana Lima")
    assert reviewers.login(token) == "Ana Lima" and reviewers.names() == ["Ana Lima"]
    assert oct(os.stat(reviewers.keyfile()).st_mode & 0o777) == "0o600", "only the operator reads the keyfile"
    assert token not in reviewers.keyfile().read_text(), "the keyfile stores no token"
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    with pytest.raises(ReviewerError, match="not valid"):
        reviewers.login(forged)
    with pytest.raises(ReviewerError, match="not valid"):
        reviewers.login("Head of Brand")
    again = reviewers.add("Ana Lima")
    assert again != token and reviewers.login(again) == "Ana Lima"
    with pytest.raises(ReviewerError, match="revoked"):
        reviewers.login(token)
    assert reviewers.remove("Ana Lima") and not reviewers.configured()
    with pytest.raises(ReviewerError, match="no reviewers are configured"):
        reviewers.login(again)
    with pytest.raises(ReviewerError, match="printable"):
        reviewers.add("  ")


def test_a_broken_keyfile_is_named():
    reviewers.keyfile().write_text("{not json")
    with pytest.raises(ReviewerError, match=str(reviewers.keyfile())):
        reviewers.configured()


def test_without_reviewers_the_name_is_recorded_unverified():
    outcome = decide(RECORDS, ReviewAnswer(approve_all=True, reviewer="Head of Brand"), flow_run_id=RUN)
    assert outcome.approved == {"a/square/v0", "b/square/v0"}
    assert {(d.by, d.verified) for d in outcome.decisions.values()} == {("Head of Brand", False)}


def test_with_reviewers_an_unsigned_or_forged_answer_approves_nothing():
    token = reviewers.add("Ana Lima")
    with pytest.raises(ReviewerError, match="not signed"):
        decide(RECORDS, ReviewAnswer(approve_all=True, reviewer="Head of Brand"), flow_run_id=RUN)
    claimed = ReviewAnswer(approve_all=True, reviewer="Ana Lima", signature="f" * 64)
    with pytest.raises(ReviewerError, match="valid signature"):
        decide(RECORDS, claimed, flow_run_id=RUN)
    signed = ReviewAnswer(approve_all=True, reviewer="Ana Lima")
    signed.signature = reviewers.sign(token, signed.payload(RUN))
    with pytest.raises(ReviewerError, match="valid signature"):
        decide(RECORDS, signed, flow_run_id="another-run"), "a signature is bound to its run"
    widened = signed.model_copy(update={"approve": ["w/square/v0"]})
    with pytest.raises(ReviewerError, match="valid signature"):
        decide(RECORDS, widened, flow_run_id=RUN), "and to what it decided"
    outcome = decide(RECORDS, signed, flow_run_id=RUN)
    assert outcome.approved == {"a/square/v0", "b/square/v0"}
    assert all(d.by == "Ana Lima" and d.verified for d in outcome.decisions.values())


def test_one_by_one_decisions_carry_each_reviewers_signature():
    ana, ben = reviewers.add("Ana"), reviewers.add("Ben")
    a = SignedDecision(job_id="a/square/v0", verdict="approved", by="Ana", at="2026-10-01T09:31:00+00:00")
    a.signature = reviewers.sign(ana, a.payload(RUN))
    w = SignedDecision(job_id="w/square/v0", verdict="rejected", reason="logo clipped", by="Ben", at="2026-10-01T09:32:00+00:00")
    w.signature = reviewers.sign(ben, w.payload(RUN))
    outcome = decide(RECORDS, ReviewAnswer(reviewer="Ben", decisions=[a, w]), flow_run_id=RUN)
    d = outcome.decisions
    assert (d["a/square/v0"].verdict, d["a/square/v0"].by, d["a/square/v0"].verified) == ("approved", "Ana", True)
    assert d["a/square/v0"].at.isoformat() == "2026-10-01T09:31:00+00:00", "when the reviewer decided"
    assert (d["w/square/v0"].verdict, d["w/square/v0"].by, d["w/square/v0"].reason) == ("rejected", "Ben", "logo clipped")
    assert d["b/square/v0"].verdict == "rejected" and d["b/square/v0"].source == "gate", "undecided: not published"
    stolen = w.model_copy(update={"by": "Ana"})  # Ben's signature passed off as Ana's
    with pytest.raises(ReviewerError):
        decide(RECORDS, ReviewAnswer(decisions=[stolen]), flow_run_id=RUN)
