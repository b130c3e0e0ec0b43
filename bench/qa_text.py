"""Text QA on real photos: right vs near-miss lines, per engine; calibrated on one half of the backgrounds, reported
on the other. Writes bench/results/qa-text.md and the text section of bench/results/qa.md; nothing here asserts.

    python bench/qa_text.py            # ~10 min on a loaded 2-core machine
    python bench/qa_text.py --quick    # smoke run

**Data.** Backgrounds are real photos not made by this project: the DreamBench subjects of
``../shared/data/dreambench-dev`` (cats, dogs, an emoji plush: 4–6 photos each) and the Saleor catalogue packshots
of ``examples/saleor/images`` (matted on a random light colour). Each background is cover-cropped to 1080 × 1080.
Split: DreamBench by subject and Saleor by file, in sorted order, even positions → half A (calibration), odd → half
B (reported). A background is never in both halves.

**Lines.** Campaign lines with prices, quantities, percentages and words (:data:`LINES`); each is drawn on a
background in a font of :data:`FONTS` (the ones installed), at 44–96 px, left-aligned at a random position, in
white, near-black or a brand colour — whichever has the best WCAG contrast against the photo under it; below 3:1
a translucent plate goes under it, as compose does. Every drawn line is checked twice: against itself (the **right**
case: the check should pass or warn) and against its **near-miss** (the expected text differs from the drawn one by
one digit of a price, one digit of a quantity, or one letter that makes another real word: the check must fail).
Near-misses are listed with their line; the image says the right line either way, so the two cases share pixels.

**Readings.** The whole image is read (no recorded regions: ``brandflow qa IMAGE --expect-text``): Tesseract
(``read_image(..., full=True)``, the check's own call) and RapidOCR (``read_scene_text``), each once per image; CPU
seconds of each call are taken from ``getrusage`` (process + children), pinned to one core, ``OMP_THREAD_LIMIT=1``.
Decisions come from :func:`brandflow.qa.tokens.decide` on those readings for each engine setting, exactly as
:class:`~brandflow.qa.text.TextCheck` combines them (``auto``: RapidOCR, then Tesseract's second opinion when it is
not a pass, never making it worse); on half B the real ``TextCheck`` (engine ``auto``) re-runs on a sample and its
verdicts are compared with the cached decision.

**Calibration.** :data:`brandflow.qa.tokens.MIN_SLIP_LEN` is swept on half A; the value with the most right
decisions and no near-miss accepted is the one reported on B (the other constants were set before any measurement:
``LOW_CONF`` 60 from Tesseract's documentation, ``REAL_WORD_MIN_COUNT`` 100, ``NOT_FOUND_NED`` 0.5).

**Right decision**: right line → pass or warn; near-miss → fail. **Accepted near-miss**: a near-miss that passed.
Warn rates are shown separately (a warn sends the creative to a human; it is not a silent pass).
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"  # before Tesseract / ONNX Runtime are loaded

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont, ImageOps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DREAMBENCH = ROOT.parent / "shared" / "data" / "dreambench-dev"
if not DREAMBENCH.is_dir():
    DREAMBENCH = ROOT.parents[1] / "shared" / "data" / "dreambench-dev"
SALEOR = ROOT / "examples" / "saleor" / "images"
RESULTS = ROOT / "bench" / "results"
FONT_DIRS = [Path("/usr/share/fonts/truetype"), ROOT / "brandflow" / "assets" / "fonts"]
#: Font files tried (those installed are used; Debian: fonts-dejavu-core, fonts-liberation, fonts-noto-core).
FONTS = ["dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSerif-Bold.ttf", "dejavu/DejaVuSansCondensed-Bold.ttf",
         "liberation/LiberationSans-Bold.ttf", "liberation/LiberationSerif-Bold.ttf", "noto/NotoSans-Bold.ttf",
         "noto/NotoSerif-Bold.ttf", "DejaVuSans.ttf"]
#: (line, near-miss, kind). Near-misses change one digit of a price or quantity, or one letter into another real word.
LINES: list[tuple[str, str, str]] = [
    ("Only $39.00 today", "Only $34.00 today", "price"),
    ("Now $129.99", "Now $128.99", "price"),
    ("From €45", "From €46", "price"),
    ("Gift card $50.00", "Gift card $60.00", "price"),
    ("Free shipping over $75", "Free shipping over $15", "price"),
    ("Buy 2 get 1 free", "Buy 3 get 1 free", "quantity"),
    ("Pack of 12 mugs", "Pack of 13 mugs", "quantity"),
    ("Summer Sale -30%", "Summer Sale -80%", "quantity"),
    ("Save 25% on all tees", "Save 20% on all tees", "quantity"),
    ("Set of 6 glasses", "Set of 8 glasses", "quantity"),
    ("Summer Sale", "Summer Sole", "word"),
    ("Shop the new collection", "Ship the new collection", "word"),
    ("Cosy blue hoodie", "Cosy glue hoodie", "word"),
    ("Fresh apple juice", "Fresh apply juice", "word"),
    ("New arrivals every week", "New arrivals every weak", "word"),
    ("Gift ideas for him", "Lift ideas for him", "word"),
    ("Best for cold days", "Best for bold days", "word"),
    ("Made to last", "Made to lost", "word"),
]
COLOURS = [(255, 255, 255), (17, 17, 17), (255, 210, 0), (26, 99, 236), (200, 30, 60)]
MODES = ("tesseract", "rapidocr", "auto", "both")


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def backgrounds() -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """``(half A, half B)`` of ``(label, path)``: DreamBench split by subject, Saleor packshots by file."""
    a, b = [], []
    subjects = sorted(p for p in DREAMBENCH.iterdir() if p.is_dir()) if DREAMBENCH.is_dir() else []
    for i, subject in enumerate(subjects):
        for f in sorted(subject.glob("*.jpg")):
            (a if i % 2 == 0 else b).append((f"dreambench/{subject.name}/{f.name}", f))
    for i, f in enumerate(sorted(SALEOR.glob("*.png"))):
        (a if i % 2 == 0 else b).append((f"saleor/{f.name}", f))
    return a, b


def load_background(path: Path, rng: random.Random) -> Image.Image:
    im = Image.open(path)
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        matte = Image.new("RGBA", im.size, tuple(rng.randint(200, 245) for _ in range(3)) + (255,))
        im = Image.alpha_composite(matte, im)
    return ImageOps.fit(im.convert("RGB"), (1080, 1080), Image.Resampling.LANCZOS)


def _lum(rgb) -> float:
    c = np.asarray(rgb, np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def _contrast(a, b) -> float:
    la, lb = sorted((_lum(a), _lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass
class Case:
    label: str
    half: str
    line: str
    near: str
    kind: str
    font: str
    size: int
    readings: dict[str, list] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = None


def draw_case(label: str, path: Path, half: str, rng: random.Random, fonts: list[Path]) -> Case:
    line, near, kind = rng.choice(LINES)
    font_path = rng.choice(fonts)
    size = rng.randint(44, 96)
    im = load_background(path, rng)
    d = ImageDraw.Draw(im)
    while True:  # the line fits the frame with 40 px margins, as compose fits it
        font = ImageFont.truetype(str(font_path), size)
        x0, y0, x1, y1 = d.textbbox((0, 0), line, font=font)
        if x1 - x0 <= 1000 or size <= 30:
            break
        size -= 4
    w, h = x1 - x0, y1 - y0
    x = rng.randint(40, max(41, 1040 - w))
    y = rng.choice([rng.randint(40, 200), rng.randint(420, 620), rng.randint(860, max(861, 1040 - h))])
    box = (x + x0, y + y0, x + x1, y + y1)
    behind = np.asarray(im)[box[1] : box[3], box[0] : box[2]].reshape(-1, 3)
    mean = behind.mean(axis=0)
    colour = max(COLOURS, key=lambda c: _contrast(c, mean))
    if _contrast(colour, mean) < 3.0:  # as compose: a plate under text that cannot reach contrast on the photo
        plate = Image.new("RGBA", im.size, (0, 0, 0, 0))
        pd = ImageDraw.Draw(plate)
        pad = size // 4
        fill = (0, 0, 0, 150) if _lum(colour) > 0.5 else (255, 255, 255, 170)
        pd.rounded_rectangle([box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad], radius=pad, fill=fill)
        im = Image.alpha_composite(im.convert("RGBA"), plate).convert("RGB")
        d = ImageDraw.Draw(im)
    d.text((x, y), line, font=font, fill=colour)
    return Case(label, half, line, near, kind, font_path.name, size, image=np.asarray(im))


def read(case: Case) -> None:
    from brandflow.qa.scene_text import read_scene_text
    from brandflow.qa.text import read_image

    t = cpu()
    case.readings["tesseract"] = read_image(case.image, [], full=True).full or []
    case.seconds["tesseract"] = cpu() - t
    t = cpu()
    case.readings["rapidocr"] = read_scene_text(case.image).words
    case.seconds["rapidocr"] = cpu() - t


def decide_mode(expected: str, case: Case, mode: str):
    """The check's expected-string decision for ``mode`` from the cached readings (TextCheck.run's logic)."""
    from brandflow.qa.tokens import combine, compare_reading

    def dec(engines):
        return combine(expected, [compare_reading(expected, case.readings[e], e, window=True) for e in engines])

    if mode in ("tesseract", "rapidocr"):
        return dec([mode])
    if mode == "both":
        return dec(["rapidocr", "tesseract"])
    first = dec(["rapidocr"])
    if first.verdict == "pass":
        return first
    second = dec(["rapidocr", "tesseract"])
    rank = {"pass": 0, "warn": 1, "fail": 2}
    return first if (rank[first.verdict], -first.ned) <= (rank[second.verdict], -second.ned) else second


def score(cases: list[Case], mode: str) -> dict:
    out = {"right": {"pass": 0, "warn": 0, "fail": 0}, "near": {"pass": 0, "warn": 0, "fail": 0},
           "near_by_kind": {}, "examples": []}
    for c in cases:
        r = decide_mode(c.line, c, mode)
        n = decide_mode(c.near, c, mode)
        out["right"][r.verdict] += 1
        out["near"][n.verdict] += 1
        k = out["near_by_kind"].setdefault(c.kind, {"pass": 0, "warn": 0, "fail": 0})
        k[n.verdict] += 1
        if r.verdict == "fail" and len(out["examples"]) < 6:
            out["examples"].append(f"right line {c.line!r} ({c.font}, {c.size} px, {c.label}): {r.reasons[0] if r.reasons else ''}")
        if n.verdict == "pass":
            out["examples"].append(f"ACCEPTED near-miss {c.near!r} for drawn {c.line!r} ({c.label})")
    n = len(cases)
    right_ok = out["right"]["pass"] + out["right"]["warn"]
    out["accuracy"] = (right_ok + out["near"]["fail"]) / (2 * n) if n else 0.0
    out["n"] = n
    out["accepted_numbers"] = sum(v["pass"] for k, v in out["near_by_kind"].items() if k in ("price", "quantity"))
    out["accepted_words"] = out["near_by_kind"].get("word", {}).get("pass", 0)
    return out


def calibrate(cases: list[Case], values=(3, 4, 5, 6, 8, math.inf)) -> tuple[float, list[tuple[float, float, int, int]]]:
    """Sweep :data:`brandflow.qa.tokens.MIN_SLIP_LEN` on ``cases`` (engine auto); keep the value with the most right
    decisions among those accepting no near-miss at all (ties: the larger, i.e. stricter, value)."""
    import brandflow.qa.tokens as tokens

    rows = []
    for v in values:
        tokens.MIN_SLIP_LEN = v
        s = score(cases, "auto")
        rows.append((v, s["accuracy"], s["accepted_numbers"], s["accepted_words"]))
    ok = [r for r in rows if r[2] == 0 and r[3] == 0] or rows
    best = max(ok, key=lambda r: (r[1], r[0]))[0]
    tokens.MIN_SLIP_LEN = best
    return best, rows


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def table(name: str, cases: list[Case]) -> list[str]:
    out = [f"| engine ({name}) | pairs | right decisions | right line: pass / warn / fail | near-miss: pass / warn / fail "
           "| number near-misses accepted | word near-misses accepted |", "|---|---|---|---|---|---|---|"]
    notes = []
    for mode in MODES:
        s = score(cases, mode)
        r, n = s["right"], s["near"]
        out.append(f"| {mode} | {s['n']} | {pct(s['accuracy'])} | {r['pass']} / {r['warn']} / {r['fail']} | "
                   f"{n['pass']} / {n['warn']} / {n['fail']} | {s['accepted_numbers']} | {s['accepted_words']} |")
        notes += [f"- {mode}: {e}" for e in s["examples"][:4]]
    return out + ["", "Examples of wrong decisions:", *notes] if notes else out


def timing_rows(cases: list[Case]) -> list[str]:
    rows = ["| reading (whole 1080 × 1080 image, one core) | CPU s median | p90 | max |", "|---|---|---|---|"]
    for e in ("tesseract", "rapidocr"):
        xs = sorted(c.seconds[e] for c in cases)
        rows.append(f"| {e} | {statistics.median(xs):.3f} | {xs[int(0.9 * (len(xs) - 1))]:.3f} | {xs[-1]:.3f} |")
    both = sorted(c.seconds["tesseract"] + c.seconds["rapidocr"] for c in cases)
    rows.append(f"| both | {statistics.median(both):.3f} | {both[int(0.9 * (len(both) - 1))]:.3f} | {both[-1]:.3f} |")
    return rows


def check_agreement(cases: list[Case], k: int) -> str:
    """Re-run the real TextCheck (engine auto) on ``k`` cases and compare with the cached decisions."""
    from types import SimpleNamespace

    from brandflow.qa.base import CheckContext
    from brandflow.qa.text import TextCheck
    from brandflow.spec import BrandColour, BrandKit

    kit = BrandKit(name="bench", colours=[BrandColour(name="w", hex="#FFFFFF", role="primary")])
    th = SimpleNamespace(text=SimpleNamespace(min_ned=0.9, engine="auto"))
    same = total = 0
    for c in cases[:k]:
        for text in (c.line, c.near):
            res = TextCheck().run(c.image, CheckContext(path=Path("bench.png"), brand=kit, thresholds=th, expected_text=(text,)))
            same += res.verdict == decide_mode(text, c, "auto").verdict
            total += 1
    return f"{same}/{total}"


def versions() -> str:
    import onnxruntime

    from brandflow.qa.scene_text import engine_name
    from brandflow.qa.text import ocr_engine

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {ocr_engine()}, "
            f"{engine_name()}, onnxruntime {onnxruntime.__version__}, OpenCV {cv2.__version__}")


def write_section(lines: list[str]) -> None:
    """Write bench/results/qa-text.md and replace the text-QA section of bench/results/qa.md (between markers)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    body = "\n".join(lines) + "\n"
    (RESULTS / "qa-text.md").write_text(body)
    qa = RESULTS / "qa.md"
    start, end = "<!-- text-qa:start -->", "<!-- text-qa:end -->"
    old = qa.read_text() if qa.exists() else ""
    block = f"{start}\n{body}{end}"
    if start in old and end in old:
        new = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: block, old, flags=re.S)
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    qa.write_text(new)


def agreement(run_dir: Path, brand_path: Path) -> list[str]:
    """``brandflow qa`` (text check, as the CLI builds its context) on every published creative of a finished run,
    against the run's own text verdict: with the regions it finds recorded (the default) and reading the whole image
    with the overlay texts as ``--expect-text`` (``--whole-image``)."""
    import json

    from brandflow.imageio import load_rgb
    from brandflow.qa.base import CheckContext, run_checks
    from brandflow.qa.recorded import find_record
    from brandflow.spec import load_brand_kit

    kit = load_brand_kit(brand_path)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    same = {"recorded": 0, "whole": 0}
    found = n = 0
    differ: list[str] = []
    for job in manifest["jobs"]:
        pub = job.get("published")
        if not pub or not pub.get("uri", "").startswith("file://"):
            continue
        path = Path(pub["uri"][len("file://"):])
        run_verdict = next(c["verdict"] for c in job["attempts"][-1]["qa"]["checks"] if c["check"] == "text")
        rec = find_record(path)
        found += rec is not None
        ctx = CheckContext(path=path, brand=kit, regions=rec.regions if rec else ())
        v1 = run_checks(load_rgb(path), ctx, ["text"]).verdict
        texts = tuple(t for t in job["overlay"].values() if t)
        ctx2 = CheckContext(path=path, brand=kit, expected_text=texts)
        res2 = run_checks(load_rgb(path), ctx2, ["text"])
        n += 1
        same["recorded"] += v1 == run_verdict
        same["whole"] += res2.verdict == run_verdict
        if res2.verdict != run_verdict and len(differ) < 8:
            differ.append(f"- {pub['key']}: run {run_verdict}, whole image {res2.verdict}: {'; '.join(res2.checks[0].reasons)[:200]}")
    return [
        "### `brandflow qa` on the example's published creatives vs the run (text check)",
        "",
        f"Run: `brandflow run examples/saleor/campaign.yaml` ({n} published creatives). Regions found recorded for "
        f"{found}/{n} (the published run manifest, by the file's sha256).",
        "",
        "| `brandflow qa` reading | agrees with the run |",
        "|---|---|",
        f"| recorded regions (default) | {same['recorded']}/{n} ({pct(same['recorded'] / n if n else 0)}) |",
        f"| `--whole-image --expect-text` (headline, price, CTA) | {same['whole']}/{n} ({pct(same['whole'] / n if n else 0)}) |",
        "",
        *(["Whole-image disagreements:", *differ] if differ else []),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few backgrounds per half (smoke run)")
    ap.add_argument("--per-background", type=int, default=2, help="drawn lines per background")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--agreement", type=Path, default=None, metavar="RUN_DIR",
                    help="instead: compare `brandflow qa` with a finished example run's text verdicts "
                         "(after `brandflow run examples/saleor/campaign.yaml --out RUN_DIR`)")
    args = ap.parse_args(argv)
    if args.agreement is not None:
        lines = agreement(args.agreement, ROOT / "examples" / "saleor" / "brand.yaml")
        print("\n".join(lines))
        if not args.no_write:
            (RESULTS / "qa-text-agreement.md").write_text("\n".join(lines) + "\n")
        return
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass
    cv2.setNumThreads(1)
    load0 = os.getloadavg()[0]
    t_start = time.perf_counter()
    fonts = [d / f for f in FONTS for d in FONT_DIRS if (d / f).is_file()]
    fonts = list(dict.fromkeys(fonts))
    half_a, half_b = backgrounds()
    if args.quick:
        half_a, half_b = half_a[::6], half_b[::6]
    cases: dict[str, list[Case]] = {"A": [], "B": []}
    for half, items, seed in (("A", half_a, args.seed), ("B", half_b, args.seed + 1000)):
        rng = random.Random(seed)
        for label, path in items:
            for _ in range(args.per_background):
                case = draw_case(label, path, half, rng, fonts)
                read(case)
                case.image = case.image if half == "B" else None
                cases[half].append(case)
        print(f"half {half}: {len(cases[half])} drawn lines read", file=sys.stderr)
    low_conf, sweep = calibrate(cases["A"])
    agree = check_agreement(cases["B"], 12 if args.quick else 40)
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"## Text decisions on real photos (bench/qa_text.py) — {time.strftime('%Y-%m-%d')}, commit {rev}",
        "",
        f"{versions()}; 1-min load average at start {load0:.1f} (the machine was shared with other sessions: CPU "
        f"time is reported, wall time is longer). Fonts: {', '.join(sorted({f.name for f in fonts}))}.",
        "",
        f"Backgrounds: half A (calibration) {len(half_a)}, half B (reported) {len(half_b)} real photos "
        f"(DreamBench subjects split by subject, Saleor packshots by file); {args.per_background} drawn lines per "
        "background; each line checked as itself (right) and against its near-miss (one price digit, one quantity "
        "digit, or one letter making another real word). Whole-image reading (no recorded regions).",
        "",
        "Calibration on A (engine auto): MIN_SLIP_LEN (one letter off into a non-word warns from this word length; "
        f"inf = never) swept {', '.join(f'{v}→{pct(a)} ({n}+{w} near-misses accepted)' for v, a, n, w in sweep)}; "
        f"chosen {low_conf}.",
        "",
        "### Half B (held out)",
        "",
        *table("B", cases["B"]),
        "",
        "### Half A (calibration; for comparison only)",
        "",
        *table("A", cases["A"]),
        "",
        "### Cost per 1080 × 1080 creative (half B readings)",
        "",
        *timing_rows(cases["B"]),
        "",
        f"The real TextCheck (engine auto) re-run on B agrees with the cached decisions on {agree} decisions.",
        "",
        f"(bench wall time {time.perf_counter() - t_start:.0f} s)",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(lines)


if __name__ == "__main__":
    main()
