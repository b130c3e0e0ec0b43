"""Benchmark: the Prefect flow against the same work in a plain loop, measured so that it cannot flatter.

* **Alternated** flow and loop runs, A B A B … (``--pairs``, at least 3), so both sides see the same noise
  on a shared machine; the flow/loop ratio is taken pair by pair.
* **Whole processes**: every run is a fresh Python process (imports included) on a fresh run folder.
* **Every child process counted**: CPU is user + sys from ``wait4`` of the run's process and of every
  process below it (the ephemeral Prefect API server included). This driver makes itself a *child
  subreaper*, so a grandchild left orphaned is reaped — and counted — here too; any still running after
  its run ends is killed and reported.
* **Peak RSS of the whole tree**: the run's process plus its children (the server), summed, sampled every
  50 ms with psutil; the largest single process (``ru_maxrss``) is reported beside it.
* **The same work**: the loop resumes finished jobs first, runs the same batches (``pipeline/jobs.py``) in
  a thread pool as wide as the flow's task runner, keeps one budget meter, publishes with the same
  ``publish_stage`` in batches, keeps rejects aside, writes ``manifest.json`` and ``report.html``, publishes
  the run record, and writes the flow's three artifacts (progress every 3 s, summary, job table) as files.
  Both sides print every job's QA verdict; the driver checks they agree.

Scales: ``32`` = the example's 32 products, square only, 1 variant (32 creatives); ``128`` = the example
as shipped (square + story × 2 variants); ``320`` = the feed repeated 10× with new ids, square only; ``photos`` =
held out, a campaign nothing was tuned on: the 52 DreamBench photos of ``../shared/data/dreambench-dev`` as products,
square + story, 1 variant (104 creatives). Every run starts with an empty QA readings cache (a first campaign).
``--noop``: a re-run into a finished run folder (one finished folder per side, prepared before timing); there
the flow side is ``brandflow run`` itself (it plans, finds the folder done and current, and finishes without
starting Prefect: ``brandflow/pipeline/noop.py``), the loop side resumes every job as before. Full runs are
``brandflow run`` too, as a user types it: its checks (the campaign and feed, before Prefect starts), the no-op
check, Prefect's temporary server (booting while the flow's modules load, ``flows/ephemeral.py``), the flow. The
loop makes none of those checks; they count against the flow.

``--server long-lived``: the deployment case instead of the laptop's. One ``prefect server start`` (UI and
services as a user runs it) is started before the warm-up and serves every flow run (``PREFECT_API_URL``), so no
run boots a server. Its CPU is still counted: the server's whole process tree's user + sys is read before and after
each run and the difference is added to that flow run (its idle loops during the run included, so the figure errs
against the flow); its RSS is added to the flow's sampled tree. Its boot is reported apart, not spread over runs.
The loop's runs do not use it; the server's CPU during them is reported as its idle cost.

    python bench/campaign.py                                 # make bench: 32 and 128, no-op, RSS 32 vs 320
    python bench/campaign.py --scales 32 --pairs 3           # one scale
    python bench/campaign.py --scales 128 --noop --pairs 3   # no-op re-runs only
    python bench/campaign.py --scales 32,128 --server long-lived   # against one long-lived Prefect server

Writes ``bench/results/campaign.md`` (``campaign-long-lived.md``) and, with ``--readme``, the table between the
README's ``<!-- bench:campaign -->`` (``<!-- bench:campaign-long-lived -->``) markers. Nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "saleor"
#: name → (feed repeats, formats, variants)
SCALES = {"32": (1, "square", 1), "128": (1, "all", 2), "320": (10, "square", 1), "photos": (1, "all", 1)}
#: Real photos no one here made, for the held-out campaign ``photos`` (DreamBench subjects, CC-BY-4.0): nothing in the
#: hot path was profiled or tuned on them (opaque 512-px JPEGs, segmented by GrabCut; no lettering on most).
DREAMBENCH = next((p for p in (ROOT.parent / "shared" / "data" / "dreambench-dev",
                               ROOT.parents[1] / "shared" / "data" / "dreambench-dev") if p.is_dir()), None)
PROGRESS_EVERY = 3.0  # as the flow's progress artifact


# --------------------------------------------------------------------------- the campaign under test
def make_campaign(folder: Path, scale: str) -> Path:
    """A copy of the example campaign at ``scale`` (see module doc) in ``folder``; returns its YAML."""
    import yaml

    repeat, formats, variants = SCALES[scale]
    rows = list(csv.DictReader((EXAMPLE / "products.csv").open(encoding="utf-8")))
    folder.mkdir(parents=True, exist_ok=True)
    if scale == "photos":
        rows = _photo_rows(folder, rows[0])
    with (folder / "products.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in range(repeat):
            for row in rows:
                w.writerow({**row, "id": row["id"] if r == 0 else f"{row['id']}-r{r}"})
    for item in EXAMPLE.iterdir():  # brand kit, logo, licence …: everything but the feed, the campaign and runs
        if item.name in ("products.csv", "campaign.yaml", "runs"):
            continue
        (folder / item.name).symlink_to(item) if item.is_dir() else shutil.copy(item, folder / item.name)
    spec = yaml.safe_load((EXAMPLE / "campaign.yaml").read_text())
    if formats != "all":
        spec["formats"] = [f for f in spec["formats"] if f["name"] in formats.split(",")]
    spec["variants"] = variants
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _photo_rows(folder: Path, template: dict) -> list[dict]:
    """The held-out feed: one product per DreamBench photo (copied into ``folder/photos``), priced 10–61 USD."""
    if DREAMBENCH is None:
        raise SystemExit("the photos scale needs ../shared/data/dreambench-dev beside the repository")
    (folder / "photos").mkdir(exist_ok=True)
    rows = []
    for i, photo in enumerate(sorted(DREAMBENCH.glob("*/*.jpg"))):
        subject = photo.parent.name
        shutil.copy(photo, folder / "photos" / f"{subject}-{photo.stem}.jpg")
        name = subject.replace("_", " ").rstrip("0123456789").strip().title()
        rows.append({**{k: "" for k in template}, "id": f"{subject}-{photo.stem}", "title": f"{name} no. {photo.stem}",
                     "description": f"A photo of {name.lower()} from DreamBench", "product_type": "Pets > Toys",
                     "price": f"{10 + (i * 7) % 52}.00 USD", "image_link": f"photos/{subject}-{photo.stem}.jpg"})
    return rows


# --------------------------------------------------------------------------- one run (child process)
def _loop(campaign: Path, out: Path, workers: int) -> list:
    """The flow's work (``flows/campaign.py``: ``make_all`` and ``_run``) without Prefect; returns the job records."""
    from concurrent.futures import as_completed
    from datetime import datetime, timezone

    from brandflow import progress
    from brandflow.feed.catalog import load_feed
    from brandflow.manifest import RunManifest, RunSummary
    from brandflow.pipeline.budget import BudgetMeter
    from brandflow.pipeline.jobs import MAX_BATCH, batches, chunked, run_batch, split_resumed
    from brandflow.licences import check_licence
    from brandflow.pipeline.outcome import record_of
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.pipeline.record import keep_aside_all, publish_each, with_published, write_record
    from brandflow.pipeline.stages import batch_size_of, publish_feeds, publish_run_record, publish_stage
    from brandflow.spec import load_campaign

    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    spec, brand = load_campaign(campaign)
    products, rejections = load_feed(spec.feed)
    jobs, more = plan_jobs(spec, brand, products)
    rejections += more
    target = (out / "published").as_uri()
    artifacts = out / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)

    outcomes, todo = split_resumed(jobs, spec, brand, out)
    counter = progress.Counter("creatives", len(jobs), done=len(outcomes))
    (artifacts / "progress.json").write_text(json.dumps({"progress": 100.0 * counter.done / max(1, len(jobs))}))
    budget = BudgetMeter.from_spec(spec)
    with ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(run_batch, chunk, spec, brand, out, budget, lambda o: counter.advance()): chunk
                   for chunk in batches(todo, workers, batch_size_of(spec) if todo else 1)}
        last = time.monotonic()
        for future in as_completed(futures):
            outcomes.update((job.job_id, outcome) for job, outcome in zip(futures[future], future.result()))
            if time.monotonic() - last >= PROGRESS_EVERY:
                (artifacts / "progress.json").write_text(json.dumps({"progress": 100.0 * counter.done / len(jobs)}))
                last = time.monotonic()
        if todo:
            (artifacts / "progress.json").write_text(json.dumps({"progress": 100.0}))
        final = {job.job_id: outcomes[job.job_id] for job in jobs}
        jobs_by_id = {job.job_id: job for job, _ in final.values()}
        records = [record_of(job, attempts, spec) for job, attempts in final.values()]
        to_publish = [r for r in records if r.status == "published"]
        chunks = list(chunked(to_publish, MAX_BATCH))
        done = pool.map(lambda c: publish_each(c, lambda r: publish_stage(r.final.creative, jobs_by_id[r.job_id], r.final.qa, spec, target)), chunks)
        published = {r.job_id: result for chunk, results in zip(chunks, done) for r, result in zip(chunk, results)}
    records = [with_published(r, published[r.job_id]) if r.job_id in published else r for r in records]
    records = keep_aside_all(records, out)
    summary = RunSummary.of(records, rejections, len(products), time.perf_counter() - t0)
    manifest = RunManifest(campaign=spec.slug, spec_path=str(campaign.resolve()), brand=brand.name, backend=spec.generator.backend,
                           publish_target=target, started_at=started, model=check_licence(spec, str(campaign)), summary=summary,
                           jobs=records, rejections=rejections).redacted()
    if spec.publish.feeds:
        manifest = manifest.model_copy(update={"feeds": publish_feeds(records, spec, target, [p.id for p in products], out)})
    manifest_path, report = write_record(manifest, out)
    publish_run_record([manifest_path, report], spec, target, started.strftime("%Y%m%dT%H%M%SZ"))
    s = manifest.summary
    (artifacts / "summary.md").write_text(
        f"## {manifest.campaign}\n\n| products | jobs | published | held | failed | errors | rejected rows | attempts | reused |\n"
        f"|---|---|---|---|---|---|---|---|---|\n| {s.products} | {s.jobs} | {s.published} | {s.held} | {s.failed} | {s.errors} "
        f"| {s.rejected_rows} | {s.attempts} | {s.reused} |\n\nReport: `{report}`\n")
    (artifacts / "jobs.json").write_text(json.dumps([
        {"job": r.job_id, "status": r.status, "verdict": r.final.qa.verdict if r.final.qa else "error", "attempts": len(r.attempts),
         "seed": r.final.seed, "uri": r.published.uri if r.published else "", "link": (r.published.link or "") if r.published else "",
         "reasons": "; ".join(r.final.qa.reasons if r.final.qa else [r.final.error or ""])[:300], "review": ""}
        for r in manifest.jobs]))
    return manifest.jobs


def _cli_run(campaign: Path, out: Path, workers: int) -> tuple[list, bool]:
    """``brandflow run CAMPAIGN --out OUT --json`` in this process (as a user types it: preflight, the no-op check,
    then the flow); returns the manifest's job records and whether the run was a no-op (Prefect not started)."""
    import contextlib
    import io

    from brandflow.cli import app
    from brandflow.manifest import RunManifest

    import inspect

    from brandflow import cli

    # a brandflow older than `run --json` (bench/ab.py --mode cli runs the code issue 16 measured) writes the same
    # manifest.json into --out; it has no no-op path
    as_json = "as_json" in inspect.signature(cli.run).parameters
    buf, code = io.StringIO(), 0
    with contextlib.redirect_stdout(buf):
        try:
            app(["run", str(campaign), "--out", str(out), *(["--json"] if as_json else []), "--workers", str(workers)])
        except SystemExit as e:
            code = e.code or 0
    if code not in (0, 1):
        raise SystemExit(f"brandflow run exited {code}")
    answer = json.loads(buf.getvalue()) if as_json else {"manifest": str(out / "manifest.json"), "noop": False}
    return RunManifest.read(Path(answer["manifest"])).jobs, answer["noop"]


def child(args: argparse.Namespace) -> None:
    os.environ["BRANDFLOW_TASK_WORKERS"] = str(args.workers)
    noop = False
    if args.mode == "flow" and args.cli:
        jobs, noop = _cli_run(args.campaign, args.out, args.workers)
    elif args.mode == "flow":  # as `brandflow run` does it: Prefect's temporary server boots while the flow's modules load
        from brandflow.flows.ephemeral import start_temporary_server

        server = start_temporary_server()
        from brandflow.flows.campaign import campaign_flow

        if server is not None:
            server.ready()
        from brandflow.manifest import RunManifest

        jobs = RunManifest.read(campaign_flow(str(args.campaign), str(args.out)).manifest).jobs
    else:
        jobs = _loop(args.campaign, args.out, args.workers)
    print(json.dumps({
        "jobs": len(jobs), "attempts": sum(len(j.attempts) for j in jobs), "published": sum(j.status == "published" for j in jobs),
        "reused": sum(a.cached for j in jobs for a in j.attempts), "noop": noop,
        "verdicts": {j.job_id: [a.qa.verdict if a.qa else "error" for a in j.attempts] for j in jobs},
        "creatives": {j.job_id: j.final.creative.sha256 if j.final.creative else None for j in jobs},
    }))


# --------------------------------------------------------------------------- measuring a whole process tree
def _become_subreaper() -> bool:
    """Make this process the reaper of orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _summed_rss(processes: list) -> int:
    """Summed RSS of ``processes`` (psutil), bytes; one that ended meanwhile counts 0."""
    import psutil

    total = 0
    for p in processes:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class LongLivedServer:
    """One ``prefect server start`` for the whole benchmark, as a deployment runs it (UI and services on).

    ``cpu()`` is the user + sys CPU seconds of its process tree so far (live processes and those it reaped);
    ``rss()`` the tree's summed RSS in bytes; ``pids()`` the processes that belong to it (the driver must not
    count them as a run's orphans or end them)."""

    def __init__(self, env: dict[str, str], log: Path):
        import socket

        import httpx
        import psutil

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/api"
        t0 = time.perf_counter()
        with log.open("ab") as logf:
            self.process = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                             "--port", str(port)], env=env, stdout=logf, stderr=logf)
        self._root = psutil.Process(self.process.pid)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"prefect server start exited {self.process.returncode}; see {log}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise SystemExit(f"prefect server start did not answer within 300 s; see {log}")
        self.boot_cpu, self.boot_wall = self.cpu(), time.perf_counter() - t0

    def _tree(self) -> list:
        import psutil

        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return []

    def pids(self) -> set[int]:
        return {p.pid for p in self._tree()}

    def cpu(self) -> float:
        import psutil

        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        return _summed_rss(self._tree())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def measure(mode: str, campaign: Path, out: Path, workers: int, env: dict[str, str], log: Path, cli: bool = True,
            cache: Path | None = None, server: LongLivedServer | None = None) -> dict:
    """Run one child to the end and account for it and every process below it; returns the figures. ``cli``: the
    flow side runs ``brandflow run`` (its checks, the no-op check, the flow; the default), else it calls the flow as
    ``brandflow run`` does after its checks (``bench/ab.py --mode flow``: an old tree's CLI may lack ``--json``). ``cache``: the
    user's shared cache of QA readings (``BRANDFLOW_CACHE_DIR``) the run finds; ``None`` = a new, empty one beside
    ``out``, removed afterwards (a first campaign on a new machine: every packshot is read). ``server``: the
    long-lived Prefect server the flow talks to; its CPU during a flow run is added to the run's, its RSS to the
    run's tree (a loop run does not use it: its CPU then is returned as ``server_idle``)."""
    import psutil

    fresh = cache is None
    cache = out.parent / f"{out.name}.user-cache" if cache is None else cache
    env = {**env, "BRANDFLOW_CACHE_DIR": str(cache)}

    cmd = [sys.executable, __file__, "--child", "--mode", mode, "--campaign", str(campaign), "--out", str(out), "--workers", str(workers)]
    cmd += ["--cli"] if cli else []
    peak = {"tree": 0}
    stop = threading.Event()
    keep = server.pids() if server else set()
    counted = server is not None and mode == "flow"
    with log.open("ab") as logf, tempfile.TemporaryFile() as stdout:
        server_cpu0 = server.cpu() if server else 0.0
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=logf, env=env)

        def sample() -> None:
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not stop.wait(0.05):
                try:
                    rss = _summed_rss([root, *root.children(recursive=True)])
                except psutil.Error:
                    return
                peak["tree"] = max(peak["tree"], rss + (server.rss() if counted else 0))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu, maxrss, others, status = 0.0, 0, 0, None
        while status is None:  # reap the run and any orphan adopted meanwhile, counting each
            pid, st, ru = os.wait4(-1, 0)
            cpu += ru.ru_utime + ru.ru_stime
            maxrss = max(maxrss, ru.ru_maxrss)
            if pid == proc.pid:
                status = st
            else:
                others += 1
        wall = time.perf_counter() - t0
        server_cpu = server.cpu() - server_cpu0 if server else 0.0
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        leftover = [p for p in psutil.Process().children() if p.pid not in keep]
        for p in leftover:  # an orphan still running after its run: end it, count it
            p.terminate()
        deadline, pending = time.time() + 5, {p.pid for p in leftover}
        while pending:  # reaped by wait4 (not psutil's wait, which would drop their rusage)
            for pid in list(pending):
                got, st, ru = os.wait4(pid, os.WNOHANG)
                if got:
                    cpu += ru.ru_utime + ru.ru_stime
                    others += 1
                    pending.discard(pid)
            if pending:
                if time.time() > deadline:
                    for pid in pending:
                        os.kill(pid, 9)
                time.sleep(0.05)
        while True:  # orphans that ended meanwhile; never blocks (a long-lived server stays our child)
            try:
                pid, st, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            cpu += ru.ru_utime + ru.ru_stime
            others += 1
        stdout.seek(0)
        text = stdout.read().decode()
    if fresh:
        shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode:
        raise SystemExit(f"{mode} run failed (exit {proc.returncode}); see {log}")
    result = json.loads(text.strip().splitlines()[-1])
    result.update(cpu=cpu + (server_cpu if counted else 0.0), wall=wall, rss_tree_mb=peak["tree"] / 2**20,
                  rss_max1_mb=maxrss / 1024, orphans=others, leftover=len(leftover),
                  server_cpu=server_cpu if counted else 0.0, server_idle=0.0 if counted else server_cpu)
    return result


# --------------------------------------------------------------------------- driver
def bench_env(base: Path) -> dict[str, str]:
    """The environment of every measured run: one Prefect home under ``base`` for the whole benchmark (not the
    user's; migrated once by the warm-up run), quiet logs, no telemetry, one OCR thread per worker."""
    return {**os.environ, "PREFECT_HOME": str(base / "prefect-home"), "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_THREAD_LIMIT": "1",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}  # a new database migrates first


def stats(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def fmt(values: list[float], digits: int = 1, unit: str = "") -> str:
    lo, mid, hi = stats(values)
    return f"{mid:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"


#: scale → side → the folder of that side's last full run (a no-op pass re-runs into it)
_kept: dict[str, dict[str, Path]] = {}


def alternate(scale: str, pairs: int, workers: int, base: Path, env: dict[str, str], log: Path, noop: bool,
              sides: tuple[str, ...] = ("flow", "loop"), server: LongLivedServer | None = None) -> dict:
    """``pairs`` × (flow, loop), alternated; with ``noop`` each side re-runs into its own finished folder (the
    last full run's folder of that scale, kept for this, or one made first)."""
    folder = base / f"campaign-{scale}"
    campaign = folder / "campaign.yaml" if folder.is_dir() else make_campaign(folder, scale)
    kept = _kept.setdefault(scale, {})
    finished = {mode: kept.get(mode, base / f"finished-{scale}-{mode}") for mode in sides}
    if noop:
        for mode in sides:
            if not finished[mode].is_dir():
                measure(mode, campaign, finished[mode], workers, env, log, server=server)
    runs: dict[str, list[dict]] = {mode: [] for mode in ("flow", "loop")}
    loads = [os.getloadavg()[0]]
    for i in range(pairs):
        for mode in sides if i % 2 == 0 else tuple(reversed(sides)):
            out = finished[mode] if noop else base / f"run-{scale}-{mode}-{i}"
            r = measure(mode, campaign, out, workers, env, log, server=server)
            runs[mode].append(r)
            loads.append(os.getloadavg()[0])
            print(f"  {scale}{' no-op' if noop else ''} {mode} #{i + 1}: cpu {r['cpu']:.1f} s, wall {r['wall']:.1f} s, "
                  f"rss {r['rss_tree_mb']:.0f} MB, {r['jobs']} jobs, {r['reused']} reused, load {loads[-1]:.1f}", flush=True)
            if not noop:  # the last of each side is kept (where it ran: records hold absolute paths) for a no-op pass
                previous = kept.pop(mode, None)
                if previous is not None:
                    shutil.rmtree(previous, ignore_errors=True)
                kept[mode] = out
    verdicts = {json.dumps(r["verdicts"], sort_keys=True) for side in runs.values() for r in side}  # flow and loop alike
    creatives = {json.dumps(r["creatives"], sort_keys=True) for side in runs.values() for r in side}
    return {"scale": scale, "noop": noop, "runs": runs, "loads": loads, "same_verdicts": len(verdicts) == 1,
            "same_creatives": len(creatives) == 1, "verdicts": runs["flow"][0]["verdicts"]}


def _final_verdicts(verdicts: dict[str, list[str]]) -> dict[str, int]:
    """How many jobs ended on each verdict (their last attempt's), most common first."""
    counts: dict[str, int] = {}
    for attempts in verdicts.values():
        counts[attempts[-1]] = counts.get(attempts[-1], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def table(results: list[dict], pairs: int) -> list[str]:
    lines = [
        "| run | creatives | side | CPU s (user+sys, server incl.) | wall s | peak RSS MB (flow + server) | flow/loop CPU | flow/loop wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        f, lp = res["runs"]["flow"], res["runs"]["loop"]
        name = {"32": "32 products, square, 1 variant", "128": "the example (square + story × 2)",
                "photos": "held out: 52 DreamBench photos as products (square + story)",
                "320": "320 products (feed ×10), square"}[res["scale"]] + (", no-op re-run" if res["noop"] else "")
        cpu_ratio = [a["cpu"] / b["cpu"] for a, b in zip(f, lp)]
        wall_ratio = [a["wall"] / b["wall"] for a, b in zip(f, lp)]
        for side, runs in (("flow", f), ("loop", lp)):
            if not runs:
                continue
            ratios = (fmt(cpu_ratio, 2, "×"), fmt(wall_ratio, 2, "×")) if side == "flow" and lp else ("", "")
            lines.append(f"| {name} | {runs[0]['jobs']} | {side} | {fmt([r['cpu'] for r in runs])} | {fmt([r['wall'] for r in runs], 2 if res['noop'] else 1)} "
                         f"| {fmt([r['rss_tree_mb'] for r in runs], 0)} | {ratios[0]} | {ratios[1]} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["flow", "loop"], help=argparse.SUPPRESS)
    ap.add_argument("--campaign", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cli", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/campaign.md (campaign-long-lived.md)")
    ap.add_argument("--workers", type=int, default=3, help="the flow's task threads (BRANDFLOW_TASK_WORKERS) = the loop's pool")
    ap.add_argument("--scales", default=None, help="comma-separated from 32, 128, 320, each optionally with -noop (re-runs into "
                    "a finished folder) or -flow (flow only, one run); default: 32,128,128-noop,320-flow")
    ap.add_argument("--pairs", type=int, default=3, help="flow/loop pairs per scale, alternated (>= 3 for a figure to quote)")
    ap.add_argument("--noop", action="store_true", help="measure re-runs into a finished run folder instead")
    ap.add_argument("--readme", action="store_true", help="also rewrite the README's table between its bench:campaign markers")
    ap.add_argument("--server", choices=["temporary", "long-lived"], default="temporary",
                    help="temporary: each flow run boots Prefect's server, as `brandflow run` on a laptop (default); long-lived: "
                    "one `prefect server start` serves every run, its CPU during each flow run counted (module doc)")
    args = ap.parse_args()
    if args.child:
        return child(args)

    long_lived = args.server == "long-lived"
    args.out = args.out or ROOT / "bench" / "results" / ("campaign-long-lived.md" if long_lived else "campaign.md")
    subreaper = _become_subreaper()
    tokens = args.scales.split(",") if args.scales else ["32", "128", "128-noop", "320-flow"]
    plan = [(t.split("-")[0], args.noop or t.endswith("-noop"), ("flow",) if t.endswith("-flow") else ("flow", "loop")) for t in tokens]
    for s, _, _ in plan:
        if s not in SCALES:
            raise SystemExit(f"--scales: unknown scale {s!r}; choose from {', '.join(SCALES)} (suffix -noop: re-runs; -flow: flow only)")
    with tempfile.TemporaryDirectory(prefix="brandflow-bench-") as tmp:
        base = Path(tmp)
        # one Prefect home for the whole benchmark (not the user's): migrated once by the warm-up run
        env = bench_env(base)
        log = ROOT / "bench" / "results" / "campaign.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        server = LongLivedServer(env, log) if long_lived else None
        try:
            if server:
                env = {**env, "PREFECT_API_URL": server.url}
                print(f"long-lived server at {server.url}: booted in {server.boot_wall:.1f} s wall, {server.boot_cpu:.1f} s CPU", flush=True)
            print("warm-up (not counted): one flow run and one loop run, 32 creatives", flush=True)
            warm = make_campaign(base / "warm", "32")
            for mode in ("flow", "loop"):
                measure(mode, warm, base / f"warm-{mode}", args.workers, env, log, server=server)
            results = []
            for scale, noop, sides in plan:
                # the default plan's 320-flow only shows how RSS grows with the campaign: one flow run, no loop
                pairs = 1 if len(sides) == 1 else args.pairs
                print(f"{scale}{' no-op re-run' if noop else ''}: {pairs} × {'/'.join(sides)}", flush=True)
                results.append(alternate(scale, pairs, args.workers, base, env, log, noop, sides, server))
        finally:
            if server:
                server.stop()

    loads = [x for r in results for x in r["loads"]]
    by = {(r["scale"], r["noop"]): r for r in results}
    lines = [
        f"# bench/campaign.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores ({_cpu_model()}), {_mem_gib():.0f} GiB, Python {platform.python_version()}, "
        f"shared with other work: 1-min load average {min(loads):.1f}–{max(loads):.1f} during the runs. "
        f"{args.workers} worker threads on both sides; flow and loop alternated (A B A B …), each a fresh process and run folder; "
        "CPU = user + sys of the run's process and every process below it ("
        + ("each flow run's share of the long-lived Prefect server: its whole tree's CPU during the run, idle loops included; "
           if long_lived else "the ephemeral Prefect server included, ")
        + f"{'orphans reaped here too' if subreaper else 'no subreaper: orphans would be missed'}); "
        + ("peak RSS = the process tree's summed RSS, the long-lived server's added on the flow side, " if long_lived else
           "peak RSS = the process tree's summed RSS, ")
        + "sampled every 50 ms. Median (min–max).",
        "",
        *table(results, args.pairs),
        "",
        "QA verdicts identical in every run of a scale, flow and loop: "
        + ", ".join(f"{r['scale']}{' no-op' if r['noop'] else ''} {'yes' if r['same_verdicts'] else 'NO'}" for r in results)
        + "; creatives byte-identical: "
        + ", ".join(f"{r['scale']}{' no-op' if r['noop'] else ''} {'yes' if r['same_creatives'] else 'NO'}" for r in results) + ".",
        "Final QA verdicts (jobs; a job's last attempt): " + "; ".join(
            f"{r['scale']}{' no-op' if r['noop'] else ''} " + ", ".join(f"{v} {n}" for v, n in _final_verdicts(r["verdicts"]).items())
            for r in results) + ".",
    ]
    if ("32", False) in by and ("320", False) in by:
        small = statistics.median(r["rss_tree_mb"] for r in by[("32", False)]["runs"]["flow"])
        big = statistics.median(r["rss_tree_mb"] for r in by[("320", False)]["runs"]["flow"])
        lines.append(f"Peak RSS flow + server, 32 → 320 products: {small:.0f} → {big:.0f} MB ({big / small:.2f}×).")
    if ("32", False) in by and ("128", False) in by:
        extra = {k: [f["cpu"] - lp["cpu"] for f, lp in zip(by[(k, False)]["runs"]["flow"], by[(k, False)]["runs"]["loop"])]
                 for k in ("32", "128")}
        (lo32, mid32, hi32), (lo128, mid128, hi128) = stats(extra["32"]), stats(extra["128"])
        # a per-creative cost is only told apart from the fixed cost when the two scales' pair ranges do not overlap
        per = (f"so {1000 * (mid128 - mid32) / 96:.0f} ms per further creative beyond a fixed cost per run"
               if hi32 < lo128 or hi128 < lo32 else
               "ranges that overlap: at this noise no per-creative cost can be told apart from the fixed cost per run")
        lines.append(f"What Prefect and `brandflow run` add, flow − loop CPU per pair: {mid32:.1f} s ({lo32:.1f}–{hi32:.1f}) at 32 creatives, "
                     f"{mid128:.1f} s ({lo128:.1f}–{hi128:.1f}) at 128, {per} ("
                     + ("the command's checks, importing Prefect's client, the flow and task runs' API calls, the server's work for them)." if long_lived else
                        "the command's checks, importing Prefect, starting and stopping the ephemeral API server)."))
    if ("128", False) in by:
        flow128 = statistics.median(r["cpu"] for r in by[("128", False)]["runs"]["flow"])
        lines.append(f"Throughput per core on the example: {128 / flow128 * 60:.0f} creatives per CPU-minute (flow, server counted).")
    for res in results:
        if res["noop"]:
            shortcut = all(r["noop"] for r in res["runs"]["flow"])
            every = all(r["reused"] == r["attempts"] for r in res["runs"]["loop"])
            lines.append(f"No-op re-runs at {res['scale']} (the flow side is `brandflow run`: it plans, finds the run folder done and "
                         f"current, and starts no Prefect): every flow-side run finished without Prefect: {'yes' if shortcut else 'NO'}; "
                         f"the loop reused every attempt in every run: {'yes' if every else 'NO — not a no-op'}.")
    if server:
        during = [r["server_cpu"] for res in results for r in res["runs"]["flow"]]
        idle = [r["server_idle"] / r["wall"] for res in results for r in res["runs"]["loop"]]
        lines.append(f"The long-lived server (`prefect server start`, UI and services on): booted once in {server.boot_wall:.1f} s wall, "
                     f"{server.boot_cpu:.1f} s CPU, not counted in any run; its CPU during each flow run, counted in the flow's: "
                     f"{fmt(during)} s" + (f"; while idle (during the loop's runs): {fmt(idle, 3)} s of CPU per second of wall." if idle else "."))
    left = sum(r["leftover"] for res in results for side in res["runs"].values() for r in side)
    if left:
        lines.append(f"**{left} process(es) were still running after their run ended** (killed and counted).")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    (args.out.with_suffix(".json")).write_text(json.dumps([{k: v for k, v in r.items() if k != "verdicts"} | {
        "runs": {side: [{k: v for k, v in x.items() if k not in ("verdicts", "creatives")} for x in runs] for side, runs in r["runs"].items()}}
        for r in results], indent=1))
    print(text)
    if args.readme:
        readme = ROOT / "README.md"
        body = readme.read_text()
        marker = "campaign-long-lived" if long_lived else "campaign"
        a, b = f"<!-- bench:{marker} -->", f"<!-- /bench:{marker} -->"
        if a in body and b in body:
            head, rest = body.split(a, 1)
            readme.write_text(head + a + "\n" + "\n".join(lines[2:]) + "\n" + b + rest.split(b, 1)[1])


def _cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def _mem_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return 0.0


if __name__ == "__main__":
    main()
