"""Jobs end to end without Prefect: batching, resumption exactly once, same inputs → same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from brandflow.feed.catalog import load_feed
from brandflow.pipeline import jobs as pj
from brandflow.pipeline.budget import BudgetMeter
from brandflow.pipeline.plan import plan_jobs
from brandflow.records import sha256_file
from brandflow.spec import load_campaign

PRODUCTS = ["apple-juice", "white-plimsolls"]


@pytest.mark.parametrize(("n", "workers", "multiple", "size"), [(32, 3, 1, 3), (128, 3, 1, 11), (1000, 3, 1, 16), (5, 3, 1, 1), (40, 2, 4, 4), (10, 3, 4, 4)])
def test_batches_keep_order_and_bound_their_size(n, workers, multiple, size):
    items = list(range(n))
    out = pj.batches(items, workers, multiple)  # type: ignore[arg-type]
    assert [x for b in out for x in b] == items, "every job once, in plan order"
    assert {len(b) for b in out[:-1]} <= {size} and 0 < len(out[-1]) <= size
    assert pj.batches([], 3) == []


def _plan(campaign_dir: Path, checks: list[str]) -> tuple:
    path = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(path.read_text())
    data["formats"] = [{"name": "square", "width": 540, "height": 540}]
    data["variants"] = 1
    data["qa"]["checks"] = checks
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, [p for p in products if p.id in PRODUCTS])
    return spec, brand, jobs


def _files(run_dir: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}


def test_resumption_runs_each_job_exactly_once(campaign_dir, tmp_path, monkeypatch):
    spec, brand, jobs = _plan(campaign_dir, ["format", "colour"])
    run_dir = tmp_path / "run"
    calls: list[str] = []
    real = pj.run_attempt
    monkeypatch.setattr(pj, "run_attempt", lambda job, *a, **k: calls.append(job.job_id) or real(job, *a, **k))

    done, todo = pj.split_resumed(jobs, spec, brand, run_dir)
    assert done == {} and todo == jobs
    first = pj.run_batch(todo, spec, brand, run_dir, BudgetMeter.from_spec(spec))
    assert sorted(calls) == sorted(j.job_id for j in jobs)
    files = _files(run_dir)

    calls.clear()
    done, todo = pj.split_resumed(jobs, spec, brand, run_dir)
    assert todo == [] and calls == [], "a finished job is resumed without running any stage"
    assert _files(run_dir) == files, "resuming reads and hashes; it writes nothing"
    for job, (final, attempts) in zip(jobs, first):
        again = done[job.job_id][1]
        assert [a.creative.sha256 for a in again] == [a.creative.sha256 for a in attempts]
        assert [a.qa.verdict for a in again] == [a.qa.verdict for a in attempts]
        assert all(a.cached and a.cost == 0.0 for a in again)

    # a creative lost (or tampered with) after the run: only its job runs again
    lost = first[0][1][-1].creative.path
    lost.write_bytes(b"not the creative")
    done, todo = pj.split_resumed(jobs, spec, brand, run_dir)
    assert [j.job_id for j in todo] == [jobs[0].job_id] and set(done) == {jobs[1].job_id}
    (_, redo), = pj.run_batch(todo, spec, brand, run_dir)
    assert redo[-1].creative.sha256 == first[0][1][-1].creative.sha256 == sha256_file(lost)
    assert not redo[-1].cached, "the lost creative was composed again"


def test_an_attempt_whose_qa_ran_again_is_not_counted_as_reused(campaign_dir, tmp_path):
    """After a QA setting changes, the image and creative are reused but QA runs again: the attempt is not
    "reused" (the run summary and the report would otherwise say nothing was recomputed)."""
    from brandflow.manifest import RunSummary
    from brandflow.pipeline.outcome import record_of

    spec, brand, jobs = _plan(campaign_dir, ["format", "colour"])
    run_dir = tmp_path / "run"
    pj.run_batch(jobs, spec, brand, run_dir)
    images = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.png")}

    spec, brand, jobs = _plan(campaign_dir, ["format"])  # another QA setting: new QA records, the same pixels
    done, todo = pj.split_resumed(jobs, spec, brand, run_dir)
    assert done == {} and todo == jobs
    again = pj.run_batch(todo, spec, brand, run_dir)
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.png")} == images, "nothing generated or composed again"
    assert not any(a.cached for _, attempts in again for a in attempts), "QA ran again: not reused"
    records = [record_of(job, attempts, spec) for job, attempts in again]
    assert RunSummary.of(records, [], len(PRODUCTS), 0.0).reused == 0

    done, todo = pj.split_resumed(jobs, spec, brand, run_dir)  # now everything is recorded: reused whole
    records = [record_of(job, attempts, spec) for job, attempts in done.values()]
    assert todo == [] and RunSummary.of(records, [], len(PRODUCTS), 0.0).reused == len(jobs)


def test_same_inputs_give_the_same_bytes(campaign_dir, tmp_path):
    """Determinism, not today's pixels: the compositor's look may change, a creative's bytes for the same
    inputs may not (resumption and idempotent publishing rely on it)."""
    spec, brand, jobs = _plan(campaign_dir, ["format"])
    a = pj.run_batch(jobs, spec, brand, tmp_path / "a")
    b = pj.run_batch(list(reversed(jobs)), spec, brand, tmp_path / "b")
    sha = {job.job_id: attempts[-1].creative.sha256 for job, attempts in a}
    assert {job.job_id: attempts[-1].creative.sha256 for job, attempts in b} == sha
    assert len(set(sha.values())) == len(jobs), "different jobs, different creatives"


def test_batch_label_is_short_and_safe():
    class J:
        def __init__(self, pid: str) -> None:
            self.product_id = pid

    assert pj.batch_label([J("a"), J("a")]) == "a-x2"  # type: ignore[list-item]
    assert pj.batch_label([J("../etc/passwd"), J("b c")]) == ".._etc_passwd…b_c-x2"  # type: ignore[list-item]


def test_publishing_again_rewrites_nothing(campaign_dir, tmp_path):
    """A re-run that finds everything done marks and publishes nothing anew (the marked copy included)."""
    from brandflow.pipeline.stages import publish_stage

    spec, brand, jobs = _plan(campaign_dir, ["format"])
    run_dir = tmp_path / "run"
    target = (tmp_path / "published").as_uri()
    done = pj.run_batch(jobs, spec, brand, run_dir)
    first = [publish_stage(a[-1].creative, job, a[-1].qa, spec, target) for job, a in done]
    files = _files(tmp_path)
    again = [publish_stage(a[-1].creative, job, a[-1].qa, spec, target) for job, a in done]
    assert [p.sha256 for p in again] == [p.sha256 for p in first] and not any(p.written for p in again)
    assert _files(tmp_path) == files, "no file rewritten, creative.marked.png included"


def test_pixels_in_memory_change_no_qa_decision(campaign_dir, tmp_path, monkeypatch):
    """QA on the pixels handed on from compose decides exactly as QA on the decoded file: same creatives,
    same verdicts, same measurements (only timings differ)."""
    from brandflow import imageio

    spec, brand, jobs = _plan(campaign_dir, ["format", "text", "colour", "identity"])
    fast = pj.run_batch(jobs, spec, brand, tmp_path / "fast")
    monkeypatch.setattr(imageio, "_HANDOFF_SIZE", 0)  # nothing kept: every stage decodes the file it reads
    slow = pj.run_batch(jobs, spec, brand, tmp_path / "slow")

    def decisions(outcomes):
        return [[(a.creative.sha256, a.qa.verdict, [(c.check, c.verdict, c.metrics, c.reasons) for c in a.qa.checks]) for a in attempts]
                for _, attempts in outcomes]

    assert decisions(fast) == decisions(slow)


def test_a_moved_campaign_folder_resumes_from_its_own_files(campaign_dir, tmp_path):
    """A CI workspace or a volume mounted at another path: the run resumes, and its records name the files where
    they are now (a path in a key or a record would redo every job, or publish from the old place)."""
    import shutil

    here = tmp_path / "a"
    shutil.copytree(campaign_dir, here, symlinks=True)  # packshots stay where they are (absolute links), as a mount's would
    spec, brand, jobs = _plan(here, ["format", "colour"])
    first = pj.run_batch(jobs, spec, brand, here / "runs" / "x")

    there = tmp_path / "elsewhere" / "b"
    there.parent.mkdir()
    here.rename(there)
    spec, brand, jobs = _plan(there, ["format", "colour"])
    done, todo = pj.split_resumed(jobs, spec, brand, there / "runs" / "x")
    assert todo == [] and len(done) == len(jobs)
    for job, (_, attempts) in zip(jobs, first):
        again = done[job.job_id][1][-1]
        assert again.creative.sha256 == attempts[-1].creative.sha256
        assert again.creative.path.is_relative_to(there) and again.creative.path.is_file()


def test_a_new_logo_saved_over_the_old_file_makes_new_creatives(campaign_dir, tmp_path):
    """The brand kit's files count by their content: the same path with new bytes is a new brand kit."""
    from PIL import Image

    data = yaml.safe_load((campaign_dir / "campaign.yaml").read_text())
    data.setdefault("overlay", {})["logo"] = True
    (campaign_dir / "campaign.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    logo = campaign_dir / "logo.png"
    logo.unlink()  # the fixture's link to the example's logo: a file of our own instead
    Image.new("RGBA", (400, 120), (24, 100, 236, 255)).save(logo)
    spec, brand, jobs = _plan(campaign_dir, ["format"])
    run_dir = tmp_path / "run"
    first = pj.run_batch(jobs, spec, brand, run_dir)

    Image.new("RGBA", (400, 120), (220, 20, 60, 255)).save(logo)  # the brand refresh: same name, new pixels
    spec, brand, jobs = _plan(campaign_dir, ["format"])
    done, todo = pj.split_resumed(jobs, spec, brand, run_dir)
    assert done == {} and todo == jobs, "no creative with the old logo is reused"
    again = pj.run_batch(todo, spec, brand, run_dir)
    assert [a[-1].creative.sha256 for _, a in again] != [a[-1].creative.sha256 for _, a in first]


def test_qa_measures_colour_against_the_palette_the_prompt_asked_for(campaign_dir, tmp_path):
    """The example's autumn template asks for rust, ochre and chestnut besides the brand kit: the run hands them to the
    colour check and keeps them on the creative's record, so `brandflow qa` on the file measures the same."""
    spec, brand, jobs = _plan(campaign_dir, ["colour"])
    asked = jobs[0].prompt.color_palette
    extra = [h for h in asked if h not in {c.hex.upper() for c in brand.colours}]
    assert extra, "the example's template asks for colours of its own"
    [(_, attempts)] = pj.run_batch(jobs[:1], spec, brand, tmp_path / "run", BudgetMeter.from_spec(spec))
    assert attempts[-1].creative.palette == asked
    assert attempts[-1].qa.checks[0].metrics["prompt_palette"] == extra
