"""What becomes of a finished job: a creative kept aside carries its reasons and its notes."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from brandflow.pipeline.outcome import keep_aside
from brandflow.records import Attempt, CheckResult, Creative, JobRecord, QAResult, ReferenceImage, StructuredPrompt, Subject, sha256_file


def test_a_held_creative_keeps_its_reasons_and_notes_beside_it(tmp_path):
    image = tmp_path / "creative.png"
    Image.new("RGB", (64, 64), "white").save(image)
    creative = Creative(path=image, sha256=sha256_file(image), width=64, height=64, file_type="png", bytes=image.stat().st_size)
    qa = QAResult.combine([CheckResult(check="text", verdict="warn", reasons=["price: read '0'"])])
    record = JobRecord(
        job_id="ar-SA/hoodie/sq/v0", product_id="hoodie", format="sq", variant=0, locale="ar-SA", backend="compositor",
        prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="hoodie")]), overlay={}, status="held", notes=["strings.legal: no ar-SA text"],
        references=[ReferenceImage(path=image, role="primary_packshot", sha256=creative.sha256)],
        attempts=[Attempt(attempt=1, seed=1, creative=creative, qa=qa, notes=["the packshot has too few pixels"])],
    )
    keep_aside(record, tmp_path / "run")
    (txt,) = (tmp_path / "run" / "held").glob("*.txt")
    assert txt.read_text().splitlines() == [
        "job: ar-SA/hoodie/sq/v0", "text: price: read '0'", "note: strings.legal: no ar-SA text", "note: the packshot has too few pixels"]
