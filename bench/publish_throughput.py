"""Benchmark: publishing throughput (creatives per second) to a local S3 endpoint, a thread pool vs one at a time.

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

Usage:

    python bench/publish_throughput.py                   # 100 × ~1 MB, 1, 4 and 8 threads; writes bench/results/publish.md
    python bench/publish_throughput.py --workers 1,4,8,16 --files 200
    python bench/publish_throughput.py --quick           # 20 files, a smoke run

Numbers are reported in the README; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
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


def make_creatives(folder: Path, n: int, side: int) -> list[tuple[Path, str]]:
    """``n`` distinct noise PNGs of ``side``×``side`` px (≈ 3·side² bytes); returns (path, sha256)."""
    import numpy as np
    from PIL import Image

    from brandflow.records import sha256_file

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        path = folder / f"creative-{i:04d}.png"
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
    from brandflow.tasks.publish.s3 import S3Publisher

    pool = max(16, workers)
    client = latency_client(endpoint, latency_ms, pool) if latency_ms else None
    target = S3Publisher(f"s3://{bucket}/bench", endpoint_url=endpoint, max_pool_connections=pool, client=client)
    meta = {"campaign": "bench", "format": "square", "variant": "0", "qa_verdict": "pass"}

    def one(item: tuple[int, tuple[Path, str]]) -> bool:
        i, (path, sha) = item
        return target.publish(path, f"bench/p{i:04d}/square/v0.png", sha, {**meta, "product_id": f"p{i}"}, "version").written

    t0 = time.perf_counter()
    if workers == 1:
        written = sum(one(x) for x in enumerate(files))
    else:
        with ThreadPoolExecutor(workers) as pool:
            written = sum(pool.map(one, enumerate(files)))
    return time.perf_counter() - t0, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--side", type=int, default=590, help="PNG side in px; 590 gives ≈ 1.0 MB noise PNGs")
    ap.add_argument("--workers", default="1,4,8", help="comma-separated thread counts")
    ap.add_argument("--latency-ms", type=float, default=25.0, help="simulated per-request latency for the second set of rows (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; the median is reported")
    ap.add_argument("--quick", action="store_true", help="20 files, one run per row")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "publish.md")
    args = ap.parse_args()
    n = 20 if args.quick else args.files
    if args.quick:
        args.repeat = 1
    workers = [int(w) for w in args.workers.split(",")]

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    import moto

    from brandflow.tasks.publish.provenance import mark

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
                    print(f"+{latency:.0f} ms, {w:>2} thread(s): first run {n / first:6.1f} creatives/s, "
                          f"re-run {n / again:6.1f} creatives/s", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)

    lines = [
        f"# bench/publish_throughput.py — {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, boto3 {boto3.__version__}, moto {moto.__version__} (own process, 127.0.0.1), "
        f"1-min load average at start {load:.1f}",
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
