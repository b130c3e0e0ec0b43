"""A run record with every kind of creative, without running a campaign: for report, review-app and browser
tests and for bench/report.py (which builds 1,000 of them).

Creatives are real PNGs with their product name and price drawn in (so thumbnails have the weight of real
ones); QA results have the shapes the checks write (text regions with OCR word boxes, colour swatches,
identity score).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from brandflow.manifest import RunManifest, RunSummary
from brandflow.records import (
    Attempt, Box, CheckResult, Creative, JobRecord, QAResult, ReferenceImage, Rejection, ReviewDecision, StructuredPrompt, Subject,
    TextRegion,
)

FONT = Path(__file__).resolve().parents[2] / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf"
AT = datetime(2026, 10, 1, 9, 30, tzinfo=timezone.utc)
FORMATS = {"square": (1080, 1080), "story": (1080, 1920)}
# cycle of outcomes: (status, qa verdict or None for an error, what goes wrong)
KINDS = [("published", "pass", None), ("held", "warn", "colour"), ("failed", "fail", "price"), ("published", "pass", None),
         ("error", None, "error"), ("published", "pass", None), ("failed", "fail", "identity"), ("published", "pass", None)]


def _draw(path: Path, size: tuple[int, int], title: str, price: str, seed: int) -> list[TextRegion]:
    w, h = size
    hue = (seed * 37) % 200
    im = Image.new("RGB", size, (24 + hue // 4, 100, 236 - hue // 3))
    d = ImageDraw.Draw(im)
    d.ellipse((w * 0.25, h * 0.3, w * 0.75, h * 0.3 + w * 0.5), fill=(240, 240, 235))
    head, small = ImageFont.truetype(str(FONT), 62), ImageFont.truetype(str(FONT), 84)
    d.text((65, 65), title[:26], font=head, fill="white")
    d.text((65, h - 220), price, font=small, fill="white")
    im.save(path, optimize=False, compress_level=1)
    return [
        TextRegion(slot="headline", text=title[:26], box=Box(x0=65, y0=65, x1=min(w - 40, 65 + 36 * len(title[:26])), y1=140),
                   fg="#FFFFFF", bg="#1864EC", contrast=5.2, font_px=62),
        TextRegion(slot="price", text=price, box=Box(x0=65, y0=h - 220, x1=400, y1=h - 130), fg="#FFFFFF", bg="#1864EC", contrast=5.2, font_px=84),
    ]


def _checks(kind: str | None, verdict: str, regions: list[TextRegion], price: str, h: int) -> list[CheckResult]:
    read_price = "$34.00" if kind == "price" else price
    text = CheckResult(
        check="text", verdict="fail" if kind == "price" else "pass", thresholds={"min_ned": 0.9},
        metrics={"regions": [
            {"slot": r.slot, "expected": r.text, "read": read_price if r.slot == "price" else r.text,
             "ned": 0.67 if (kind == "price" and r.slot == "price") else 1.0,
             "words": [{"text": (read_price if r.slot == "price" else r.text.split()[0]), "conf": 91.0,
                        "box": [r.box.x0 + 4, r.box.y0, r.box.x1 - 4, r.box.y1]}]}
            for r in regions]},
        reasons=[f"price: read {read_price!r}, expected {price!r} (NED 0.67 < 0.9)"] if kind == "price" else [],
    )
    colour = CheckResult(
        check="colour", verdict="warn" if kind == "colour" else "pass", thresholds={"pass_delta_e": 2.0, "warn_delta_e": 3.5},
        metrics={"colours": [{"name": "Saleor Blue", "hex": "#1864EC", "nearest_centre": "#2A58C8" if kind == "colour" else "#1864EB",
                              "delta_e": 2.9 if kind == "colour" else 0.2, "coverage": 0.4, "verdict": "warn" if kind == "colour" else "pass"}],
                 "dominant": [{"hex": "#1864EB", "coverage": 0.55}, {"hex": "#F0F0EB", "coverage": 0.2}]},
        reasons=["Saleor Blue ΔE00 2.9 > 2.0"] if kind == "colour" else [],
    )
    score = 0.41 if kind == "identity" else 0.93
    identity = CheckResult(
        check="identity", verdict="fail" if kind == "identity" else "pass", thresholds={"pass_score": 0.7, "warn_score": 0.5},
        metrics={"method": "keypoints", "score": score, "inlier_ratio": 0.9, "product_box": [270, int(h * 0.3), 810, int(h * 0.3) + 540]},
        reasons=[f"product match score {score:.2f} < 0.7 (best reference packshot.png: few matches)"] if kind == "identity" else [],
    )
    return [text, colour, identity]


def make_run(run_dir: Path, n: int = 8, products: int | None = None, pending: bool = False, flow_run_id: str | None = None,
             references: Path | None = None) -> RunManifest:
    """Write ``n`` creatives under ``run_dir/work`` and return their run manifest (also written to manifest.json).

    With ``pending`` every published or held creative waits for a decision, as the review gate writes it.
    """
    work = run_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    ref_dir = references or run_dir.parent / "images"
    ref_dir.mkdir(parents=True, exist_ok=True)
    products = products or max(1, n // 2)
    jobs = []
    for i in range(n):
        pid = f"product-{i % products:04d}"
        fmt = "square" if (i // products) % 2 == 0 else "story"
        w, h = FORMATS[fmt]
        status, verdict, kind = KINDS[i % len(KINDS)]
        ref = ref_dir / f"{pid}.png"
        if not ref.exists():
            Image.new("RGB", (400, 400), (240, 240, 235)).save(ref)
        reference = ReferenceImage(path=ref, role="primary_packshot", sha256=hashlib.sha256(ref.read_bytes()).hexdigest())
        title, price = f"Product {i % products} special", f"${10 + i % products}.00"
        attempt = Attempt(attempt=1, seed=1000 + i, cost=0.0)
        if kind != "error":
            path = work / f"{pid}-{fmt}-{i}" / "creative.png"
            path.parent.mkdir(exist_ok=True)
            regions = _draw(path, (w, h), title, price, i)
            data = path.read_bytes()
            creative = Creative(path=path, sha256=hashlib.sha256(data).hexdigest(), width=w, height=h, file_type="png", bytes=len(data), regions=regions)
            attempt = attempt.model_copy(update={"creative": creative, "qa": QAResult.combine(_checks(kind, verdict, regions, price, h))})
        else:
            attempt = attempt.model_copy(update={"error": "GenerationError: the backend answered 503 three times"})
        record = JobRecord(
            job_id=f"{pid}/{fmt}/v{i // (2 * products)}", product_id=pid, product_title=title, format=fmt, variant=i // (2 * products),
            backend="compositor", prompt=StructuredPrompt(scene="studio", subjects=[Subject(description=title)]),
            overlay={"headline": title, "price": price}, references=[reference], attempts=[attempt], status=status,
        )
        if pending and status in ("published", "held"):
            record = record.model_copy(update={"status": "held", "decision": ReviewDecision(verdict="pending", reason="awaiting approval", source="gate")})
        jobs.append(record)
    rejections = [Rejection(source=str(run_dir.parent / "products.csv"), row=n + 2, product_id="bad-row", field="price", reason="price 'ten' is not a number")]
    manifest = RunManifest(
        campaign="synthetic-autumn", spec_path=str(run_dir.parent / "campaign.yaml"), brand="Saleor", backend="compositor",
        publish_target=(run_dir / "published").as_uri(), started_at=AT, flow_run_id=flow_run_id,
        summary=RunSummary.of(jobs, rejections, products, 12.5), jobs=jobs, rejections=rejections,
    )
    manifest.write(run_dir / "manifest.json")
    return manifest
