"""Benchmark: publishing throughput (creatives per second) to a local S3 endpoint and a local Wagtail site,
a thread pool vs one at a time.

A moto S3 server runs in its own process on 127.0.0.1 (a real HTTP endpoint, so the numbers include HTTP,
SigV4 signing and the HEAD-before-PUT of exactly-once publishing, but not the network to a real bucket or S3's
own latency). ~100 distinct PNG creatives of ~1 MB (noise, so they do not compress) are published with
``S3Publisher.publish`` from N threads sharing one client, into a fresh bucket per run:

* ``first run``  — every creative is new: HEAD (404) + PUT with ChecksumSHA256 and If-None-Match;
* ``re-run``     — the same creatives again: HEAD only, nothing written (the exactly-once path);
* ``mark``       — the cost of embedding the XMP provenance packet, per creative (no network).

Against a real bucket each request also waits for the network and S3 (tens of ms), which is what threads
hide; ``--latency-ms`` adds that wait to every request (a botocore ``before-send`` hook that sleeps), as a
second set of rows.

Wagtail (``--targets wagtail``): a real Wagtail site with brandflow-wagtail is built once in a temporary folder
(the test suite's builder, ``tests/publishers/wagtail_site.py``: ``wagtail start``, migrate, an API token) and
served by ``manage.py runserver`` on 127.0.0.1; ~60 distinct PNG creatives of ~200 KB are published with
``WagtailPublisher`` one at a time and from N threads, each mode with its own fresh keys and bytes:

* ``first run``  — every creative is new: GET the key's images (none), POST the image, GET again (race check);
* ``re-run``     — the same creatives again: one GET each, nothing uploaded;

and the site's image count is read after every step: it must grow by exactly the number of creatives (no
duplicates). runserver is Django's development server (threaded, SQLite), not a production server: these
numbers show the client's concurrency and the cost of its exactly-once check, not what a CMS can take.

Usage:

    python bench/publish_throughput.py                   # S3: 100 × ~1 MB, 1, 4 and 8 threads; Wagtail: 60 × ~200 KB,
                                                         # 1 and 4 threads; writes bench/results/publish.md
    python bench/publish_throughput.py --workers 1,4,8,16 --files 200
    python bench/publish_throughput.py --targets wagtail # one target; the other's section of the results file is kept
    python bench/publish_throughput.py --quick           # 20 files (S3), 12 (Wagtail), a smoke run

Numbers are reported in the README; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    """A moto S3 server in a child process; returns (process, endpoint URL) once it answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)  # noqa: S310 - local
            return proc, endpoint
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto server did not start")


def make_creatives(folder: Path, n: int, side: int, seed: int = 0, prefix: str = "creative") -> list[tuple[Path, str]]:
    """``n`` distinct noise PNGs of ``side``×``side`` px (≈ 3·side² bytes); returns (path, sha256)."""
    import numpy as np
    from PIL import Image

    from brandflow.records import sha256_file

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        path = folder / f"{prefix}-{i:04d}.png"
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path, compress_level=1)
        out.append((path, sha256_file(path)))
    return out


def latency_client(endpoint: str, latency_ms: float, pool: int):
    """A client like brandflow's (botocore retries off) whose every request first sleeps ``latency_ms``."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, config=Config(signature_version="s3v4", max_pool_connections=pool,
                                                                     retries={"mode": "standard", "total_max_attempts": 1}))
    client.meta.events.register("before-send.s3", lambda **_: time.sleep(latency_ms / 1000))
    return client


def publish_all(endpoint: str, bucket: str, files: list[tuple[Path, str]], workers: int, latency_ms: float = 0) -> tuple[float, int]:
    """Publish every file from ``workers`` threads; returns (seconds, number written)."""
    from brandflow.publishers.s3 import S3Publisher

    pool = max(16, workers)
    client = latency_client(endpoint, latency_ms, pool) if latency_ms else None
    target = S3Publisher(f"s3://{bucket}/bench", endpoint_url=endpoint, max_pool_connections=pool, client=client)
    meta = {"campaign": "bench", "format": "square", "variant": "0", "qa_verdict": "pass"}

    def one(item: tuple[int, tuple[Path, str]]) -> bool:
        i, (path, sha) = item
        return target.publish(path, f"bench/p{i:04d}/square/v0.png", sha, {**meta, "product_id": f"p{i}"}, "version").written

    return timed_publish(one, files, workers)


def timed_publish(one, files: list, workers: int) -> tuple[float, int]:  # noqa: ANN001
    """Seconds to call ``one((i, file))`` for every file (in order with 1 worker, else from a thread pool) and
    how many of those calls wrote something."""
    t0 = time.perf_counter()
    if workers == 1:
        written = sum(one(x) for x in enumerate(files))
    else:
        with ThreadPoolExecutor(workers) as pool:
            written = sum(pool.map(one, enumerate(files)))
    return time.perf_counter() - t0, written


def bench_s3(args: argparse.Namespace, n: int, workers: list[int]) -> list[str]:
    """The S3 rows (moto server in its own process); returns the section of the results file."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    import moto

    from brandflow.publishers.provenance import mark

    load = os.getloadavg()[0]  # other work on the machine skews the numbers; recorded with them
    proc, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            files = make_creatives(folder, n, args.side)
            mb = sum(p.stat().st_size for p, _ in files) / 1e6
            t0 = time.perf_counter()
            for i, (p, _) in enumerate(files):
                mark(p, folder / f"marked-{i:04d}.png", campaign="bench", job_id=f"p{i}/square/v0", backend="flux2")
            mark_ms = 1000 * (time.perf_counter() - t0) / n

            s3 = boto3.client("s3", endpoint_url=endpoint)
            rows = []
            for latency in sorted({0.0, args.latency_ms}):
                for w in workers:
                    firsts, agains = [], []
                    for _ in range(args.repeat):  # a fresh bucket each time; the median is reported
                        bucket = f"bench-{uuid.uuid4().hex[:16]}"
                        s3.create_bucket(Bucket=bucket)
                        first, written = publish_all(endpoint, bucket, files, w, latency)
                        again, rewritten = publish_all(endpoint, bucket, files, w, latency)
                        count = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
                        assert written == n and rewritten == 0 and count == n, (written, rewritten, count)
                        firsts.append(first)
                        agains.append(again)
                    first, again = statistics.median(firsts), statistics.median(agains)
                    rows.append((latency, w, first, again))
                    print(f"S3 +{latency:.0f} ms, {w:>2} thread(s): first run {n / first:6.1f} creatives/s, "
                          f"re-run {n / again:6.1f} creatives/s", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)

    lines = [
        "## S3 (moto server)",
        "",
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"boto3 {boto3.__version__}, moto {moto.__version__} (own process, 127.0.0.1), 1-min load average at start {load:.1f}",
        "",
        f"{n} distinct PNG creatives, {mb / n:.2f} MB each ({mb:.0f} MB in all), one shared client, a fresh bucket per run; "
        f"median of {args.repeat} run(s) per row.",
        "",
        "| added latency per request | threads | first run s | creatives/s | MB/s | speed-up vs 1 thread | re-run s (HEAD only) | re-run creatives/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for latency, w, first, again in rows:
        base = next(f for lat, ww, f, _ in rows if lat == latency and ww == workers[0])
        lines.append(f"| {latency:.0f} ms | {w} | {first:.2f} | {n / first:.1f} | {mb / first:.1f} | {base / first:.2f}× | "
                     f"{again:.2f} | {n / again:.1f} |")
    lines += [
        "",
        f"Provenance marking (XMP into the PNG, no re-encoding): {mark_ms:.1f} ms per creative.",
        "",
        "First run: HEAD (404) + PUT with ChecksumSHA256 and If-None-Match per creative; re-run: one HEAD each,",
        "nothing written. Local moto, not S3: absolute numbers are bounded by moto's own speed (Python) on this",
        "machine; against a real bucket the per-request latency is higher and threads help more.",
    ]
    return lines


class _RetryCounter(logging.Handler):
    """Counts the publisher's "retrying" warnings (429, 5xx, dropped connections), so they show in the results."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "retrying" in record.getMessage()


def publish_wagtail(target: str, files: list[tuple[Path, str]], prefix: str, workers: int) -> tuple[float, int]:
    """Publish every file to the Wagtail site from ``workers`` threads under keys ``prefix/pNNNN/square/v0.png``;
    returns (seconds, number uploaded)."""
    from brandflow.publishers.base import AssetLabels
    from brandflow.publishers.wagtail import WagtailPublisher

    publisher = WagtailPublisher(target, collection="Campaigns", tags=["bench"])

    def one(item: tuple[int, tuple[Path, str]]) -> bool:
        i, (path, sha) = item
        labels = AssetLabels(title=f"Bench product {i} — square v0", alt_text=f"Noise creative {i} of the benchmark")
        return publisher.publish(path, f"{prefix}/p{i:04d}/square/v0.png", sha, {}, "version", labels=labels).written

    return timed_publish(one, files, workers)


def bench_wagtail(args: argparse.Namespace, n: int, workers: list[int]) -> list[str]:
    """The Wagtail rows (a site built once, served by runserver); returns the section of the results file."""
    import django
    import wagtail

    sys.path.insert(0, str(ROOT / "tests" / "tasks" / "publish"))
    from wagtail_site import build_site  # the test suite's site builder

    from brandflow.publishers.wagtail import WagtailPublisher

    load = os.getloadavg()[0]
    retries = _RetryCounter()
    logging.getLogger("brandflow.publishers.wagtail").addHandler(retries)
    rows = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        print("Wagtail: building the site (wagtail start, migrate, token, runserver) …", flush=True)
        t0 = time.perf_counter()
        site = stack.enter_context(build_site(tmp))
        build_s = time.perf_counter() - t0
        os.environ["BRANDFLOW_WAGTAIL_TOKEN"] = site.token
        checker = WagtailPublisher(site.target)
        total = site.total()
        for m, w in enumerate(workers):
            # fresh keys and fresh bytes for each mode: every first run uploads everything
            folder = tmp / f"creatives-{w}"
            folder.mkdir()
            files = make_creatives(folder, n, args.wagtail_side, seed=1000 + m, prefix=f"w{w}")
            mb = sum(p.stat().st_size for p, _ in files) / 1e6
            prefix = f"bench-{uuid.uuid4().hex[:8]}-{w}t"
            for step in ("first run", "re-run"):
                before_retries = retries.count
                seconds, written = publish_wagtail(site.target, files, prefix, w)
                expected = total + (n if step == "first run" else 0)
                total = site.total()
                per_key = [checker.count(f"{prefix}/p{i:04d}/square/v0.png") for i in range(n)]
                assert written == (n if step == "first run" else 0), (step, written)
                assert total == expected and per_key == [1] * n, (step, total, expected, per_key)
                rows.append((w, step, seconds, written, total, n * (m + 1), retries.count - before_retries, mb))
                print(f"Wagtail {w:>2} thread(s), {step:9}: {n / seconds:6.1f} creatives/s, {written} uploaded, "
                      f"{total} images on the site", flush=True)
    logging.getLogger("brandflow.publishers.wagtail").removeHandler(retries)

    mb = rows[0][-1]
    lines = [
        "## Wagtail (brandflow-wagtail on Django's runserver)",
        "",
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Wagtail {wagtail.__version__}, Django {django.__version__}, httpx {_version('httpx')}, "
        f"wagtail-write-api {_version('wagtail-write-api')}; `manage.py runserver` (threaded, SQLite, DEBUG) in its own "
        f"process on 127.0.0.1; 1-min load average at start {load:.1f}",
        "",
        f"A site built once with the test suite's builder (`tests/publishers/wagtail_site.py`, {build_s:.0f} s); "
        f"{n} distinct PNG creatives of {mb / n * 1000:.0f} KB per mode ({mb:.0f} MB), fresh keys and bytes for each "
        f"mode, one `WagtailPublisher` (one shared httpx client), collection `Campaigns`, `on_conflict: version`; "
        f"one run per row.",
        "",
        "| threads | step | s | creatives/s | MB/s | speed-up vs 1 thread | uploaded | images on the site after | creatives published so far | retries |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w, step, seconds, written, total, so_far, retried, mb in rows:
        base = next(s for ww, st, s, *_ in rows if ww == workers[0] and st == step)
        lines.append(f"| {w} | {step} | {seconds:.2f} | {n / seconds:.1f} | {mb / seconds:.1f} | {base / seconds:.2f}× | "
                     f"{written} | {total} | {so_far} | {retried} |")
    lines += [
        "",
        "First run: per creative, GET the key's images (none), POST the image with title, alt text, collection and",
        "tags (one transaction on the site), GET again (the race check); re-run: one GET each, nothing uploaded.",
        f"The site's image count grows by exactly {n} per mode and not at all on a re-run: no duplicates, and",
        "every key holds exactly one image. `runserver` is Django's development server (a thread per request,",
        "SQLite, DEBUG), not a production server: these numbers show the client's concurrency and the cost of",
        "its exactly-once check, not what a Wagtail site behind gunicorn/uWSGI and PostgreSQL can take. Client",
        "and server share this machine's cores. Retries: transient errors (429, 5xx, dropped connections) retried.",
    ]
    return lines


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


TITLE = "# bench/publish_throughput.py"
TARGETS = {"s3": "## S3", "wagtail": "## Wagtail"}


def merge(out: Path, sections: dict[str, list[str]]) -> str:
    """The results file: the sections just run, and the other targets' sections kept from ``out`` (if any)."""
    kept: dict[str, str] = {}
    if out.exists():
        for part in re.split(r"(?m)^(?=## )", out.read_text()):
            for target, heading in TARGETS.items():
                if part.startswith(heading) and target not in sections:
                    kept[target] = part.rstrip("\n")
    blocks = [TITLE]
    for target in TARGETS:
        if target in sections:
            blocks.append("\n".join(sections[target]))
        elif target in kept:
            blocks.append(kept[target])
    return "\n\n".join(blocks) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="s3,wagtail", help="comma-separated: s3, wagtail (default both)")
    ap.add_argument("--files", type=int, default=100, help="S3 creatives")
    ap.add_argument("--side", type=int, default=590, help="S3 PNG side in px; 590 gives ≈ 1.0 MB noise PNGs")
    ap.add_argument("--workers", default="1,4,8", help="S3: comma-separated thread counts")
    ap.add_argument("--latency-ms", type=float, default=25.0, help="S3: simulated per-request latency for the second set of rows (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="S3: runs per row; the median is reported")
    ap.add_argument("--wagtail-files", type=int, default=60, help="Wagtail creatives per mode")
    ap.add_argument("--wagtail-side", type=int, default=258, help="Wagtail PNG side in px; 258 gives ≈ 200 KB noise PNGs")
    ap.add_argument("--wagtail-workers", default="1,4", help="Wagtail: comma-separated thread counts (a mode each)")
    ap.add_argument("--quick", action="store_true", help="20 files (S3) and 12 (Wagtail), one run per row")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "publish.md")
    args = ap.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown or not targets:
        ap.error(f"--targets: choose from {', '.join(TARGETS)}, got {args.targets!r}")
    if args.quick:
        args.repeat = 1

    sections: dict[str, list[str]] = {}
    if "s3" in targets:
        sections["s3"] = bench_s3(args, 20 if args.quick else args.files, [int(w) for w in args.workers.split(",")])
    if "wagtail" in targets:
        sections["wagtail"] = bench_wagtail(args, 12 if args.quick else args.wagtail_files,
                                            [int(w) for w in args.wagtail_workers.split(",")])

    text = merge(args.out, sections)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
