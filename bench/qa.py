"""Benchmark of the QA checks: time per check on one core, OCR accuracy on the text we render, identity ROC on
held-out products. Writes bench/results/qa.md and prints it. Numbers go in the README; nothing here asserts.

    python bench/qa.py                    # full run (~10 min on a loaded 2-core machine)
    python bench/qa.py --quick            # smoke run: fewer creatives and pairs
    python bench/qa.py --parts a,w        # timing only: per check, and the work per creative
    python bench/qa.py --parts c --identity-method dino --identity-model /models/dinov2-small  # learned identity

(a) **Time per check per 1080 × 1080 creative, one core.** The process is pinned to CPU 0
(``os.sched_setaffinity``), ``OMP_THREAD_LIMIT=1`` (Tesseract, ONNX Runtime) and ``cv2.setNumThreads(1)``.
Creatives: the square format of ``examples/saleor`` (one per product, variant 0), rendered by the real
compositor + compose. CPU time = user + system of this process **and of its children** (Tesseract runs as a
child process), from ``getrusage``; wall time from ``perf_counter``. Pass 1 sees every product for the first
time (reference-packshot features computed, as for the first creative of a product in a run; file and page
caches cold), pass 2 repeats the same creatives with warm caches (a product's further formats and variants). The checks
run as in the campaign: the text check reads the overlay regions and, for the brand's forbidden words, each pasted
source compose recorded (packshot, logo: read on a product's first creative, reused after; a tree without such
records reads the whole image), the identity check detects keypoints in the recorded product box.

(w) **The work per creative.** Every job of the example through the stage functions a run calls (generate →
compose → QA, pixels handed on in memory, per-source results cached in the run folder), in a fresh run folder,
one attempt each: CPU seconds per stage. To compare two versions, run this script with ``PYTHONPATH`` pointing at
each checkout in turn, alternated (A B A B …).

(b) **OCR accuracy on the text we render.** Every overlay region (headline, price, CTA) of a full example
run (32 products × 2 formats × 2 variants = 128 creatives) read by the text check. CER = Levenshtein
distance / reference length (rapidfuzz), summed over regions (corpus CER), after the check's normalisation
(NFKC, typographic quotes → ASCII, case-fold, whitespace collapsed) and, stricter, case-sensitive; NED as
AnyText; word precision / recall as MARIO-Eval. With rapidocr installed, the same regions are also looked
up in RapidOCR's full-image reading (the scene-text engine; best window of words, as for expected strings).

(c) **Identity ROC on held-out products.** The 32 products are split per top-level product type, in sorted
id order: even positions → half A (calibration), odd → half B (held out; tests/qa/test_identity_heldout.py
uses B too). Synthetic pairs as ``brandflow.qa.calibrate_identity`` builds them (pasted packshots, random
flat/gradient backgrounds, text bars, JPEG), but with shown and reference products drawn from one half
only, and different seeds per half. The pass threshold is re-picked on A alone by the rule behind the
default (the lowest 0.05 step with no A-negative at or above it) and evaluated on B, next to the spec defaults
pass 0.70 / warn 0.50. (warn is a review-load policy — how many look-alikes a human sees instead of a
regeneration — not a statistic: its row shows the share of different products sent to a human.) The rendered
campaign creatives of (b) whose product is in B are a second held-out set (real layouts and overlay text).
TPR = positives at or above the threshold, FPR = negatives at or above it.
The same rendered creatives are also scored with the keypoints detected only in the product box compose recorded
(the run's search region), to show that the faster search separates as the whole frame did.
(c) also reports the **real-data** sets of ``bench/identity_calibration.py`` on their held-out split B only
(DreamBench subjects cat2, dog2, dog5, dog7, poop_emoji: real photos re-shot in other scenes; Saleor multi-view
products: another view of the product): ROC AUC, TPR at 1 % FPR (the threshold read off B's own negatives, a
ranking figure) and TPR / FPR at the spec's pass / warn thresholds (fitted on split A). With ``--identity-method
dino|clip`` the DreamBench rows are the embedding's cosine, its thresholds picked on A's photos by the same rule.

(d) **Forbidden-word detection: per pasted source vs the whole image.** Words of the brand's list printed on each
primary packshot at 14–34 px (of a 576-px packshot), composed into square creatives, checked both ways; clean
creatives count false alarms (:func:`bench_forbidden`).
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"  # before Tesseract / ONNX Runtime / OpenMP are loaded
os.environ["BRANDFLOW_CACHE_DIR"] = "off"  # a first campaign: no packshot read by an earlier run (readings stay in the run folder)

import argparse  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from rapidfuzz.distance import Levenshtein  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "saleor"
RESULTS = ROOT / "bench" / "results" / "qa.md"
CHECKS = ["format", "text", "colour", "identity"]
#: The parts of the bench (module notes), in the order they run.
ALL_PARTS = ("a", "w", "b", "c", "d")
#: Jobs the generator or compose could not render (listed in the results; the bench goes on without them).
RENDER_ERRORS: list[str] = []


# --------------------------------------------------------------------------- helpers
def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children (Tesseract)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


@dataclass
class Rendered:
    """One creative of the example campaign: the job, the Creative record and its decoded pixels' path."""

    job: object
    creative: object


def render_campaign(out: Path, formats: set[str] | None, variants: set[int] | None, limit: int | None):
    """Render the example campaign's jobs (compositor + compose) into ``out``; returns (spec, brand, list)."""
    from brandflow import registry
    from brandflow.spec import load_campaign
    from brandflow.feed.catalog import load_feed
    from brandflow.compose.overlay import compose
    from brandflow.pipeline.plan import plan_jobs

    spec, brand = load_campaign(EXAMPLE / "campaign.yaml")
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products)
    jobs = [j for j in jobs if (formats is None or j.format.name in formats) and (variants is None or j.variant in variants)]
    jobs = jobs[:limit] if limit else jobs
    gen = registry.load("generator", spec.generator.backend)(spec.generator.options)
    done = []
    for k, job in enumerate(jobs):
        try:
            g = gen.generate(job, out / f"{k}-gen.png")
            c = compose(g, job, brand, spec.overlay, out / f"{k}-{job.product_id}-{job.format.name}-v{job.variant}.{job.format.file_type}")
        except Exception as e:  # noqa: BLE001 — reported, not fatal: the bench measures QA, not rendering
            RENDER_ERRORS.append(f"{job.product_id}/{job.format.name}/v{job.variant} (seed {job.seed}): {type(e).__name__}: {e}")
            continue
        done.append(Rendered(job, c))
    return spec, brand, done


#: Where the checks keep per-source results during the bench (qa_stage: ``run_dir/work/qa-sources``); set by :func:`run`.
SOURCE_CACHE: Path | None = None


def context(r: Rendered, spec, brand, thresholds=None):
    """The CheckContext qa_stage builds for a creative (brandflow.pipeline.stages.qa_stage): with the pasted sources
    compose recorded and a per-source cache folder — when the brandflow under test has them (``PYTHONPATH`` may point
    at a checkout from before they existed, to time both side by side)."""
    from brandflow.qa.base import CheckContext

    extra = {}
    if "placed" in CheckContext.__dataclass_fields__ and getattr(r.creative, "placed", None) is not None:
        extra = {"placed": tuple(r.creative.placed), "cache_dir": SOURCE_CACHE}
    return CheckContext(path=r.creative.path, brand=brand, thresholds=thresholds or spec.qa, format=r.job.format,
                        regions=tuple(r.creative.regions),
                        references=tuple(x.path for x in r.job.references if x.role in ("primary_packshot", "alternate_view")),
                        **extra)


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal ('12.5 %')."""
    return f"{100 * x:.1f} %"


# --------------------------------------------------------------------------- (a) timing
def bench_timing(spec, brand, creatives: list[Rendered], scene: bool) -> tuple[list[str], dict]:
    """(a): CPU and wall seconds per check per creative (the last creative is the unmeasured warm-up).
    Returns the markdown lines and a summary dict."""
    from types import SimpleNamespace

    from brandflow.imageio import load_rgb
    from brandflow.qa.base import get_check

    def time_one(fn):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        return cpu_seconds() - c0, time.perf_counter() - t0

    # warm-up on a creative that is not measured: imports, Tesseract binary in the page cache, k-means init
    warm = creatives[-1]
    for name in CHECKS:
        get_check(name).run(load_rgb(warm.creative.path), context(warm, spec, brand))
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for pass_no in (1, 2):
        for r in creatives[:-1]:
            ctx = context(r, spec, brand)
            holder = {}
            cpu, wall = time_one(lambda: holder.setdefault("img", load_rgb(r.creative.path)))
            rows["decode (load_rgb)"][f"cpu{pass_no}"].append(cpu)
            rows["decode (load_rgb)"][f"wall{pass_no}"].append(wall)
            total_c = total_w = 0.0
            for name in CHECKS:
                cpu, wall = time_one(lambda: get_check(name).run(holder["img"], ctx))
                rows[name][f"cpu{pass_no}"].append(cpu)
                rows[name][f"wall{pass_no}"].append(wall)
                total_c, total_w = total_c + cpu, total_w + wall
            rows["all four checks"][f"cpu{pass_no}"].append(total_c)
            rows["all four checks"][f"wall{pass_no}"].append(total_w)
    extra = {}
    if scene:
        th = SimpleNamespace(text=SimpleNamespace(min_ned=spec.qa.text.min_ned, engine="rapidocr"))
        from brandflow.qa.text import TextCheck

        TextCheck().run(load_rgb(warm.creative.path), context(warm, spec, brand, th))  # engine load
        for r in creatives[:-1]:
            img = load_rgb(r.creative.path)
            cpu, wall = time_one(lambda: TextCheck().run(img, context(r, spec, brand, th)))
            rows["text, engine=rapidocr (optional)"]["cpu2"].append(cpu)
            rows["text, engine=rapidocr (optional)"]["wall2"].append(wall)
        extra["scene"] = True
    n = len(creatives) - 1
    lines = [f"### (a) Time per check per 1080 × 1080 creative, one core (median of {n} creatives)", "",
             "| check | CPU s, pass 1 (cold caches) | CPU s, pass 2 (warm; p90) | wall s, pass 2 |",
             "|---|---|---|---|"]
    for name, v in rows.items():
        first = f"{statistics.median(v['cpu1']):.3f}" if v.get("cpu1") else "–"
        lines.append(f"| {name} | {first} | {statistics.median(v['cpu2']):.3f} ({np.percentile(v['cpu2'], 90):.3f}) | "
                     f"{statistics.median(v['wall2']):.3f} |")
    summary = {"all_cpu_warm": statistics.median(rows["all four checks"]["cpu2"]),
               "all_cpu_first": statistics.median(rows["all four checks"]["cpu1"]),
               "text_cpu": statistics.median(rows["text"]["cpu2"]), **extra}
    return lines, summary


# --------------------------------------------------------------------------- (w) the work per creative
def bench_work(tmp: Path, limit: int | None) -> tuple[list[str], dict]:
    """(w): CPU seconds per creative of each stage of a job — generate → compose → QA, the stage functions a run
    calls (``brandflow.pipeline.stages.run_attempt``: pixels handed on in memory, records written, per-source QA
    results cached in the run folder) — over every job of the example (32 products × square + story × 2 variants), one
    attempt each, in a fresh run folder, one core. CPU time of this process and its children per stage.

    It starts with the process's in-memory readings forgotten (packshot lettering, pasted-source words, cut-outs), so
    it counts what a run pays even after part (a) read the same packshots (before 3e4b102 it did not: its QA figure
    then left out most packshot readings)."""
    from brandflow.feed.catalog import load_feed
    from brandflow.generators.compositor import clear_cutout_cache
    from brandflow.pipeline import stages
    from brandflow.qa import identity, label_text, source_text

    label_text.clear_cache()
    source_text.clear_cache()
    clear_cutout_cache()
    identity.clear_cache()
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.spec import load_campaign

    spec, brand = load_campaign(EXAMPLE / "campaign.yaml")
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products)
    jobs = jobs[:limit] if limit else jobs
    run_dir = tmp / "work-run"
    stages.run_attempt(jobs[-1], spec, brand, tmp / "warm-up")  # imports, Tesseract and fonts loaded: not measured
    per: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, int] = defaultdict(int)
    for job in jobs:
        c0 = cpu_seconds()
        generated, _ = stages.generate_stage(job, spec, brand, run_dir)
        c1 = cpu_seconds()
        creative, _ = stages.compose_stage(generated, job, spec, brand, run_dir)
        c2 = cpu_seconds()
        qa, _ = stages.qa_stage(creative, job, spec, brand, run_dir)
        c3 = cpu_seconds()
        per["generate"].append(c1 - c0)
        per["compose"].append(c2 - c1)
        per["QA (all four checks, decode included)"].append(c3 - c2)
        per["the job"].append(c3 - c0)
        verdicts[qa.verdict] += 1
    lines = [f"### (w) The work per creative: generate → compose → QA ({len(jobs)} jobs of the example, one core)", "",
             "| stage | CPU s per creative, median (p90) | CPU s, all jobs |", "|---|---|---|"]
    for name, v in per.items():
        lines.append(f"| {name} | {statistics.median(v):.3f} ({np.percentile(v, 90):.3f}) | {sum(v):.1f} |")
    lines += ["", "QA verdicts: " + ", ".join(f"{k} {n}" for k, n in sorted(verdicts.items()))]
    return lines, {"job_total": sum(per["the job"]), "jobs": len(jobs), **{f"{k}_median": statistics.median(v) for k, v in per.items()}}


# --------------------------------------------------------------------------- (d) forbidden-word detection
FORBIDDEN_CASES = [("MIRACLE", 34), ("Cheap", 24), ("guaranteed", 18), ("BEST EVER", 14)]


def bench_forbidden(tmp: Path, limit: int | None, views: str = "primary") -> tuple[list[str], dict]:
    """(d): does reading each pasted source once find the forbidden words the whole-image reading found? For each
    packshot of the example (every product's primary packshot) and each case of :data:`FORBIDDEN_CASES` (a word
    of the brand kit's list printed on the packshot at that size, px of the 576-px packshot, dark on a light
    patch, at a seeded position inside the product), a square creative is rendered (compositor + compose, the
    logo pasted) and its text check is run twice: reading the pasted sources (``ctx.placed``; the run's method)
    and reading the whole image (the method it replaced). Clean creatives count false alarms. Memory caches are
    cleared per creative, so each source reading is a cold one.

    ``views="additional"``: the same protocol on the catalogue's *other* product images (a product's additional
    views, e.g. the back of a shirt), each pasted as that product's packshot — 15 images no reading setting was
    chosen on (READ_SIDE and the union of the two engines were chosen on the primary packshots)."""
    import random

    from PIL import Image, ImageDraw, ImageFont

    from brandflow.compose.overlay import compose
    from brandflow.feed.catalog import load_feed
    from brandflow.generators.compositor import CompositorGenerator, clear_cutout_cache
    from brandflow.imageio import load_rgb
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.qa import label_text, source_text
    from brandflow.qa.base import CheckContext
    from brandflow.qa.text import TextCheck
    from brandflow.records import ReferenceImage, sha256_file
    from brandflow.spec import load_campaign

    spec, brand = load_campaign(EXAMPLE / "campaign.yaml")
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products)
    jobs = [j for j in jobs if j.format.name == "square" and j.variant == 0]
    jobs = jobs[:limit] if limit else jobs
    if views == "additional":
        cases = [(j, r.path) for j in jobs for r in j.references if r.role == "alternate_view"]
    else:
        cases = [(j, j.references[0].path) for j in jobs]
    font = ROOT / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf"
    rng = random.Random(16)
    gen = CompositorGenerator(spec.generator.options)
    counts = {"cases": 0, "whole": 0, "source": 0, "whole_only": 0, "source_only": 0, "clean": 0, "fa_whole": 0, "fa_source": 0}
    missed: list[str] = []
    cpu = {"whole": 0.0, "source": 0.0}
    for k, (job, packshot) in enumerate(cases):
        pack = Image.open(packshot).convert("RGBA")
        alpha = np.asarray(pack)[..., 3]
        ys, xs = np.nonzero(alpha >= 250)
        for word, size in [(None, 0)] + FORBIDDEN_CASES:
            im = pack.copy()
            if word:
                d = ImageDraw.Draw(im)
                f = ImageFont.truetype(str(font), round(size * im.width / 576))
                x0, y0, x1, y1 = d.textbbox((0, 0), word, font=f)
                i = rng.randrange(len(xs))
                cx = min(max(int(xs[i]), (x1 - x0) // 2 + 6), im.width - (x1 - x0) // 2 - 6)
                cy = min(max(int(ys[i]), 6), im.height - (y1 - y0) - 12)
                d.rectangle([cx - (x1 - x0) // 2 - 6, cy - 4, cx + (x1 - x0) // 2 + 6, cy + (y1 - y0) + 8], fill=(240, 238, 230, 255))
                d.text((cx - (x1 - x0) // 2 - x0, cy - y0), word, font=f, fill=(25, 25, 35, 255))
            path = tmp / f"forbidden-{k}-{size}.png"
            im.save(path)
            case = job.model_copy(update={"references": [ReferenceImage(path=path, role="primary_packshot", sha256=sha256_file(path))]})
            try:
                generated = gen.generate(case, tmp / f"forbidden-{k}-{size}-gen.png")
                creative = compose(generated, case, brand, spec.overlay, tmp / f"forbidden-{k}-{size}-creative.png")
            except Exception as e:  # noqa: BLE001 — reported, not fatal
                RENDER_ERRORS.append(f"(d) {job.product_id} {word}: {type(e).__name__}: {e}")
                continue
            image = load_rgb(creative.path)
            base = dict(path=creative.path, brand=brand, thresholds=spec.qa, regions=tuple(creative.regions))
            found = {}
            for how, extra in (("whole", {}), ("source", {"placed": tuple(creative.placed), "cache_dir": None})):
                source_text.clear_cache()
                label_text.clear_cache()  # cold: the packshot's scene-text reading (shared with identity) is counted
                c0 = cpu_seconds()
                res = TextCheck().run(image, CheckContext(**base, **extra))
                cpu[how] += cpu_seconds() - c0
                found[how] = bool(res.metrics.get("forbidden_found"))
            clear_cutout_cache()
            if word is None:
                counts["clean"] += 1
                counts["fa_whole"] += found["whole"]
                counts["fa_source"] += found["source"]
                continue
            counts["cases"] += 1
            counts["whole"] += found["whole"]
            counts["source"] += found["source"]
            counts["whole_only"] += found["whole"] and not found["source"]
            counts["source_only"] += found["source"] and not found["whole"]
            if found["whole"] and not found["source"]:
                missed.append(f"{job.product_id} {word!r} {size} px")
    n, c = max(1, counts["cases"]), counts
    runs = max(1, c["cases"] + c["clean"])
    what = "packshots" if views == "primary" else "additional product views (held out)"
    lines = [f"### (d) Forbidden words printed on packshots: per pasted source vs the whole image ({len(cases)} {what})", "",
             "| reading | caught, of " + f"{c['cases']} printed words | caught only by this reading | false alarms, of {c['clean']} clean creatives | CPU s per creative, cold |",
             "|---|---|---|---|---|",
             f"| each pasted source (packshot, logo), once per run: Tesseract, and the packshot's scene-text reading the identity check shares | {c['source']} ({pct(c['source'] / n)}) | {c['source_only']} | {c['fa_source']} | {cpu['source'] / runs:.3f} (the scene-text reading included; in a run identity pays it) |",
             f"| the whole creative (before) | {c['whole']} ({pct(c['whole'] / n)}) | {c['whole_only']} | {c['fa_whole']} | {cpu['whole'] / runs:.3f} |",
             "", "Per word size (packshot px): " + ", ".join(f"{w} {s} px" for w, s in FORBIDDEN_CASES) + "."]
    if missed:
        lines.append("Caught by the whole image only: " + "; ".join(missed))
    return lines, counts


# --------------------------------------------------------------------------- (b) OCR accuracy
def bench_ocr(spec, brand, creatives: list[Rendered], scene: bool) -> tuple[list[str], dict]:
    """(b): CER / NED / word P-R of every overlay region read by the text check (and by RapidOCR when
    ``scene``). Returns the markdown lines and a summary dict."""
    from brandflow.imageio import load_rgb
    from brandflow.qa.text import TextCheck, best_window, normalise_text

    def folded(s: str) -> str:
        return normalise_text(s)

    def cased(s: str) -> str:  # normalisation without the case-fold
        import unicodedata

        from brandflow.qa.tokens import _QUOTES

        return " ".join(unicodedata.normalize("NFKC", s).translate(_QUOTES).split())

    per_slot: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    worst: list[tuple[float, str, str]] = []
    scene_ned: list[float] = []
    scene_dist = scene_len = 0
    scene_reader = None
    if scene:
        from brandflow.qa.scene_text import read_scene_text as scene_reader
    for r in creatives:
        img = load_rgb(r.creative.path)
        res = TextCheck().run(img, context(r, spec, brand))
        scene_words = [w.text for w in scene_reader(img).words] if scene_reader else None
        for m in res.metrics["regions"]:
            ref, read = m["expected"], m["read"]
            for slot in (m["slot"], "all"):
                d = per_slot[slot]
                d["dist"].append(Levenshtein.distance(folded(read), folded(ref)))
                d["len"].append(len(folded(ref)))
                d["dist_cased"].append(Levenshtein.distance(cased(read), cased(ref)))
                d["len_cased"].append(len(cased(ref)))
                d["ned"].append(m["ned"])
                d["precision"].append(m.get("precision", 0.0))
                d["recall"].append(m.get("recall", 0.0))
                d["exact"].append(float(folded(read) == folded(ref)))
            worst.append((m["ned"], ref, read))
            if scene_words is not None:
                match, score = best_window(scene_words, ref)
                scene_ned.append(score)
                scene_dist += Levenshtein.distance(folded(match), folded(ref))
                scene_len += len(folded(ref))
    lines = [f"### (b) OCR accuracy on the overlay text we render ({len(creatives)} creatives, "
             f"{len(per_slot['all']['ned'])} regions)", "",
             "| regions | n | CER (normalised) | CER (case-sensitive) | mean NED | min NED | NED < 0.9 | exact | word P / R |",
             "|---|---|---|---|---|---|---|---|---|"]
    for slot in ["headline", "price", "cta", "all"]:
        d = per_slot.get(slot)
        if not d:
            continue
        lines.append(f"| {slot} | {len(d['ned'])} | {pct(sum(d['dist']) / max(1, sum(d['len'])))} | "
                     f"{pct(sum(d['dist_cased']) / max(1, sum(d['len_cased'])))} | {np.mean(d['ned']):.4f} | "
                     f"{min(d['ned']):.3f} | {sum(x < 0.9 for x in d['ned'])} | {pct(np.mean(d['exact']))} | "
                     f"{np.mean(d['precision']):.3f} / {np.mean(d['recall']):.3f} |")
    if scene_ned:
        lines.append(f"| all, RapidOCR full image (scene-text engine) | {len(scene_ned)} | {pct(scene_dist / max(1, scene_len))} | – | "
                     f"{np.mean(scene_ned):.4f} | {min(scene_ned):.3f} | {sum(x < 0.9 for x in scene_ned)} | – | – |")
    bad = sorted(worst)[:5]
    lines += ["", "Lowest NED (Tesseract regions): " + "; ".join(f"{n:.2f} expected {e!r} read {r!r}" for n, e, r in bad)]
    a = per_slot["all"]
    return lines, {"cer": sum(a["dist"]) / max(1, sum(a["len"])), "cer_cased": sum(a["dist_cased"]) / max(1, sum(a["len_cased"])),
                   "ned_mean": float(np.mean(a["ned"])), "regions": len(a["ned"]),
                   "scene_cer": scene_dist / max(1, scene_len) if scene_ned else None}


# --------------------------------------------------------------------------- (c) identity
def make_scorer(method: str, model_path: str | None):
    """``score(image, refs, boxes) -> float`` for the keypoint method or a learned embedding."""
    from brandflow.qa.calibrate_identity import score as keypoint_score

    if method == "keypoints":
        return keypoint_score
    from brandflow.qa import embeddings

    model = embeddings.get_model(method, model_path)

    def learned(image, refs, boxes=()):
        emb = model.embed([embeddings.mask_boxes(image, boxes)])[0]
        return max(max(0.0, float(emb @ embeddings.reference_embedding(model, r))) for r in refs)

    return learned


def pasted_pairs(products, ids: list[str], trials: int, seed: int, scorer) -> tuple[list[float], list[float]]:
    """calibrate_identity.pasted_pairs restricted to ``ids`` (shown and reference products), scores only."""
    from brandflow.qa.calibrate_identity import pasted_pairs as pairs

    pos, neg = pairs(products, ids, trials, seed, scorer)
    return pos, [n[0] for n in neg]


def pick_pass(neg: list[float]) -> float:
    """The rule behind the default pass threshold: the lowest 0.05 step with no negative at or above it."""
    return next((t for t in (round(0.05 * i, 2) for i in range(1, 21)) if all(n < t for n in neg)), 1.0)


def rates(pos, neg, t) -> str:
    """'TPR / FPR' at threshold ``t``: shares of positives and of negatives scoring ≥ ``t``."""
    return f"{pct(np.mean(np.array(pos) >= t))} / {pct(np.mean(np.array(neg) >= t))}"


def bench_identity(spec, brand, creatives: list[Rendered], trials: int, method: str, model_path: str | None) -> tuple[list[str], dict]:
    """(c): ROC AUC and TPR / FPR on pasted pairs of halves A and B and on the rendered creatives of half B.
    Returns the markdown lines and a summary dict."""
    from brandflow.imageio import load_rgb
    from brandflow.qa.calibrate_identity import load_products, roc_auc, split_products

    products = load_products(EXAMPLE / "products.csv")
    a_ids, b_ids = split_products(products)
    scorer = make_scorer(method, model_path)
    t0 = time.perf_counter()
    pos_a, neg_a = pasted_pairs(products, a_ids, trials, 101, scorer)
    pos_b, neg_b = pasted_pairs(products, b_ids, trials, 202, scorer)
    # the rendered campaign, products of half B only; negatives: every other B product of the same type + one other
    pos_c, neg_c, pos_s, neg_s = [], [], [], []
    try:  # the run's search region: where compose recorded the packshot (absent from trees before it existed)
        from brandflow.qa.base import CheckContext
        from brandflow.qa.identity import creative_features, match_reference, reference_features, search_box
    except ImportError:
        search_box = None
    b_set = set(b_ids)
    for k, r in enumerate(creatives):
        pid = r.job.product_id
        if pid not in b_set:
            continue
        img = load_rgb(r.creative.path)
        pad = lambda x: round(0.3 * x.font_px)  # noqa: E731 — as IdentityCheck
        boxes = tuple((x.box.x0 - pad(x), x.box.y0 - pad(x), x.box.x1 + pad(x), x.box.y1 + pad(x)) for x in r.creative.regions)
        pos_c.append(scorer(img, products[pid][1], boxes))
        same = [i for i in b_ids if i != pid and products[i][0] == products[pid][0]]
        others = [i for i in b_ids if i != pid and i not in same]
        for o in same + [others[k % len(others)]]:
            neg_c.append(scorer(img, products[o][1], boxes))
        placed = getattr(r.creative, "placed", None)
        if method == "keypoints" and search_box is not None and placed is not None:
            cre = creative_features(img, boxes, search_box(CheckContext(path=r.creative.path, brand=brand, placed=tuple(placed))))
            best = lambda refs: max(float(match_reference(reference_features(x), cre)["score"]) for x in refs)  # noqa: E731
            pos_s.append(best(products[pid][1]))
            neg_s += [best(products[o][1]) for o in same + [others[k % len(others)]]]
    pass_a = pick_pass(neg_a)
    th = spec.qa.identity
    lines = [f"### (c) Identity ({method}) on held-out products", "",
             f"Half A (calibration, {len(a_ids)} products): {', '.join(a_ids)}.",
             f"Half B (held out, {len(b_ids)} products): {', '.join(b_ids)}.", "",
             f"Pass threshold re-picked on A alone: {pass_a:.2f} (spec defaults: pass {th.pass_score:.2f}, "
             f"warn {th.warn_score:.2f}).", "",
             f"| pairs | positives / negatives | ROC AUC | TPR / FPR at pass {th.pass_score:.2f} | TPR / FPR at warn "
             f"{th.warn_score:.2f} | TPR / FPR at A's pass {pass_a:.2f} | negatives max | positives p1 |",
             "|---|---|---|---|---|---|---|---|"]
    for label, p, n in (("A: pasted (calibration)", pos_a, neg_a), ("B: pasted (held out)", pos_b, neg_b),
                        ("B: rendered campaign (held out)", pos_c, neg_c),
                        ("B: rendered campaign, keypoints in the recorded product box (the run; held out)", pos_s, neg_s)):
        if not p:
            continue
        lines.append(f"| {label} | {len(p)} / {len(n)} | {roc_auc(p, n):.4f} | {rates(p, n, th.pass_score)} | "
                     f"{rates(p, n, th.warn_score)} | {rates(p, n, pass_a)} | "
                     f"{max(n):.3f} | {np.percentile(p, 1):.3f} |")
    sys.path.insert(0, str(ROOT / "bench"))
    import identity_calibration as ic

    if method == "keypoints":
        matched = ic.collect("B", 30 if len(pos_b) <= 30 else trials)
        real = ic.rescore(matched)
        lines += ["", "Real data, held-out split B (bench/identity_calibration.py; fusion and thresholds fitted on A):", ""]
        lines += ic.table(real, th.pass_score, th.warn_score)
        lines += ["", "Label text on those pairs (packshots with legible lettering; \"differs\" fails the pair):", ""]
        lines += ic.label_rows(matched)
    else:  # a learned embedding: pick its pass threshold on A's real photos by the keypoint rule, report B
        real_a = ic.learned_scores(method, model_path, "A")
        pass_real = ic.threshold_at_fpr(real_a["dreambench"][1], 0.01)
        warn_real = float(np.percentile(real_a["dreambench"][0], 10))
        real = ic.learned_scores(method, model_path, "B")
        lines += ["", f"Real data ({method}), DreamBench split A → pass {pass_real:.3f} (FPR ≤ 1 %), warn {warn_real:.3f} "
                  "(10th percentile of same-subject pairs); held-out split B:", ""]
        lines += ic.table(real, pass_real, warn_real)
    dt = time.perf_counter() - t0
    lines += ["", f"({dt:.0f} s wall for all pairs.)"]
    return lines, {"auc_b": roc_auc(pos_b, neg_b), "auc_c": roc_auc(pos_c, neg_c) if pos_c else None,
                   "auc_s": roc_auc(pos_s, neg_s) if pos_s else None,
                   "pass_a": pass_a, **{f"auc_{k}": roc_auc(p, n) for k, (p, n) in real.items()}}


# --------------------------------------------------------------------------- main
def revision() -> str:
    """``git`` commit of the tree being measured (``+dirty`` with uncommitted changes), or ``"unknown revision"``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "brandflow", "bench"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return f"commit {rev}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"


def versions() -> str:
    """Python, Tesseract, OpenCV and (when installed) rapidocr / onnxruntime versions, for the results header."""
    out = [f"Python {platform.python_version()}"]
    try:
        out.append(subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    except (OSError, IndexError):
        pass
    out.append(f"OpenCV {cv2.__version__}")
    try:
        from importlib.metadata import version

        out.append(f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}, onnxruntime {version('onnxruntime')}")
    except Exception:  # noqa: BLE001 — optional
        pass
    return ", ".join(out)


def main(argv: list[str] | None = None) -> None:
    """Run (a), (b), (c); print the markdown and write it to ``--out`` (not with ``--quick``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer creatives and pairs (smoke run)")
    ap.add_argument("--trials", type=int, default=200, help="pasted pairs per half for (c)")
    ap.add_argument("--identity-method", default="keypoints", choices=["keypoints", "dino", "clip"])
    ap.add_argument("--identity-model", default=None, help="local model folder for dino / clip")
    ap.add_argument("--no-scene-text", action="store_true", help="skip the RapidOCR rows")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--label", default=None, help="what was measured, for the header (default: the git commit)")
    ap.add_argument("--parts", default=",".join(ALL_PARTS), help="which of (a) timing per check, (w) the work per "
                    "creative, (b) OCR, (c) identity, (d) forbidden-word detection to run; the results file is written only "
                    "when all run")
    args = ap.parse_args(argv)
    from brandflow.qa.scene_text import available  # rapidocr (PP-OCRv6) or rapidocr-onnxruntime (PP-OCRv4)

    scene = available() and not args.no_scene_text

    all_cpus = os.sched_getaffinity(0)
    load0 = os.getloadavg()[0]
    os.sched_setaffinity(0, {0})
    cv2.setNumThreads(1)
    tmp = Path(tempfile.mkdtemp(prefix="brandflow-bench-qa-"))
    try:
        run(args, tmp, scene, all_cpus, load0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the rendered creatives (~100 MB)


def run(args: argparse.Namespace, tmp: Path, scene: bool, all_cpus: set[int], load0: float) -> None:
    """The body of :func:`main`: render into ``tmp``, measure, print and write the results."""
    t_start = time.perf_counter()

    global SOURCE_CACHE
    SOURCE_CACHE = tmp / "qa-sources"
    parts = set(args.parts.split(","))
    limit = 9 if args.quick else None
    timing_lines, timing, ocr_lines, ocr, id_lines, ident = [], None, [], None, [], None
    work_lines, work, forbidden_lines = [], None, []
    if "a" in parts:
        spec, brand, squares = render_campaign(tmp / "timing", {"square"}, {0}, limit)
        timing_lines, timing = bench_timing(spec, brand, squares, scene)
    if "w" in parts:
        work_lines, work = bench_work(tmp, 12 if args.quick else None)
    os.sched_setaffinity(0, all_cpus)  # accuracy figures need no pinning

    if parts & {"b", "c"}:
        spec, brand, full = render_campaign(tmp / "full", None, None, 12 if args.quick else None)
    if "b" in parts:
        ocr_lines, ocr = bench_ocr(spec, brand, full, scene)
    if "c" in parts:
        id_lines, ident = bench_identity(spec, brand, full, 30 if args.quick else args.trials, args.identity_method,
                                         args.identity_model)
    if "d" in parts:
        forbidden_lines, _ = bench_forbidden(tmp, 4 if args.quick else None)
        forbidden_lines += [""] + bench_forbidden(tmp, 4 if args.quick else None, views="additional")[0]
    if parts != set(ALL_PARTS):
        print("\n".join(timing_lines + [""] + work_lines + [""] + ocr_lines + [""] + id_lines + [""] + forbidden_lines + [""]
                        + [f"Render error: {e}" for e in RENDER_ERRORS]))
        return

    head = [f"# bench/qa.py — {time.strftime('%Y-%m-%d')}, {args.label or revision()}, {platform.machine()}, "
            f"{os.cpu_count()} cores, {versions()}; 1-min load average at start {load0:.1f}", "",
            "Targets (issue 3): all checks ≤ 0.5 s CPU per creative per core; OCR CER ≤ 2 % on our text; identity ROC "
            "AUC ≥ 0.95 on held-out pairs. CPU time is reported because the machine may be shared; wall time on a "
            "loaded machine is longer.", "",
            f"Summary: all four checks {timing['all_cpu_warm']:.3f} s CPU per creative warm ({timing['all_cpu_first']:.3f} s "
            f"with cold caches); the example's {work['jobs']} jobs (generate → compose → QA) {work['job_total']:.1f} s CPU; OCR CER {pct(ocr['cer'])} (case-sensitive {pct(ocr['cer_cased'])}) over "
            f"{ocr['regions']} regions, mean NED {ocr['ned_mean']:.4f}; identity ROC AUC on held-out products "
            f"{ident['auc_b']:.4f} (pasted), " + (f"{ident['auc_c']:.4f} (rendered campaign)" if ident["auc_c"] is not None else "–")
            + (f", {ident['auc_s']:.4f} (rendered campaign, searched in the recorded product box)" if ident.get("auc_s") is not None else "")
            + (f"; on held-out real photos (DreamBench) {ident['auc_dreambench']:.3f}, other views (Saleor multi-view) "
               f"{ident['auc_multiview']:.3f}" if "auc_dreambench" in ident else "") + ".", ""]
    if RENDER_ERRORS:
        head += [f"Render errors (jobs left out): {'; '.join(sorted(set(RENDER_ERRORS)))}", ""]
    text = "\n".join(head + timing_lines + [""] + work_lines + [""] + ocr_lines + [""] + id_lines + [""] + forbidden_lines) + \
        f"\n\nTotal bench time {time.perf_counter() - t_start:.0f} s. Method: see the docstring of bench/qa.py.\n"
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
