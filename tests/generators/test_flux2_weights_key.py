"""Resumption follows the FLUX.2 weights, not their path: new weights saved over the old make new creatives, a moved
folder keeps its work folders (the tiny random-weight pipeline saved with diffusers' save_pretrained)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from brandflow.feed.catalog import load_feed
from brandflow.generators.base import generator_class
from brandflow.generators.flux2 import Flux2KleinGenerator, weights_fingerprint
from brandflow.pipeline.plan import plan_jobs
from brandflow.pipeline.stages import work_dir
from brandflow.spec import load_campaign


def _copy(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to, copy_function=shutil.copy2)  # times kept, as `cp -a` / `rsync -a`
    return to


def _largest(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def test_moved_weights_keep_their_fingerprint_and_rewritten_ones_do_not(tiny_klein_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("brandflow.generators.flux2.SMALL_FILE_BYTES", 4096)  # the tiny weights stand for GB files
    a = _copy(tiny_klein_dir, tmp_path / "a")
    b = _copy(tiny_klein_dir, tmp_path / "elsewhere" / "b")
    assert weights_fingerprint(a) == weights_fingerprint(b), "same files, another place"
    (a / ".cache" / "huggingface").mkdir(parents=True)
    (a / ".cache" / "huggingface" / "x.metadata").write_text("hf download bookkeeping")
    assert weights_fingerprint(a) == weights_fingerprint(b), "hf download's dot-folder is not the weights"

    big = _largest(b)
    assert big.stat().st_size > 4096
    big.write_bytes(big.read_bytes())  # saved over, same size: a fine-tune of the same shapes
    assert weights_fingerprint(a) != weights_fingerprint(b), "rewritten weights are other weights"

    c = _copy(tiny_klein_dir, tmp_path / "c")
    config = next(c.rglob("config.json"))
    stat = config.stat()
    config.write_text(config.read_text().replace("}", ', "edited": 1}', 1))
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time, new content: small files go by content
    assert weights_fingerprint(c) != weights_fingerprint(a)


def test_hugging_face_cache_snapshots_go_by_their_blobs(tmp_path):
    """The cache's snapshot files link to blobs named by their content hash: that name is the file's fingerprint."""
    repo = tmp_path / "models--org--model"
    (repo / "blobs").mkdir(parents=True)
    for name in ("aaa111", "bbb222"):
        (repo / "blobs" / name).write_bytes(os.urandom(64))
    for rev in ("rev1", "rev2"):
        snap = repo / "snapshots" / rev
        (snap / "transformer").mkdir(parents=True)
        (snap / "model_index.json").symlink_to(Path("..", "..", "blobs", "aaa111"))
        (snap / "transformer" / "weights.safetensors").symlink_to(Path("..", "..", "..", "blobs", "bbb222"))
    assert weights_fingerprint(repo / "snapshots" / "rev1") == weights_fingerprint(repo / "snapshots" / "rev2")
    (repo / "blobs" / "ccc333").write_bytes(os.urandom(64))
    (repo / "snapshots" / "rev2" / "transformer" / "weights.safetensors").unlink()
    (repo / "snapshots" / "rev2" / "transformer" / "weights.safetensors").symlink_to(Path("..", "..", "..", "blobs", "ccc333"))
    assert weights_fingerprint(repo / "snapshots" / "rev1") != weights_fingerprint(repo / "snapshots" / "rev2")


def test_pixel_key_names_the_weights_and_falls_back_to_the_options(tiny_klein_dir, tiny_options, tmp_path):
    options = tiny_options(tiny_klein_dir)
    key = Flux2KleinGenerator.pixel_key(options)
    assert key["model"] == f"weights:{weights_fingerprint(tiny_klein_dir)}" and key["steps"] == options["steps"]
    missing = tiny_options(tmp_path / "no-such-folder")
    assert Flux2KleinGenerator.pixel_key(missing) == missing, "weights not here: the run reports it, the key is the options"
    bad = {**options, "steps": "many"}
    assert Flux2KleinGenerator.pixel_key(bad) == bad
    compositor = {"seed_offset": 3}
    assert generator_class("compositor").pixel_key(compositor) is compositor, "other backends' keys stay as they were"


def test_work_folders_follow_the_weights(campaign_dir, tiny_klein_dir, tiny_options, tmp_path, monkeypatch):
    monkeypatch.setattr("brandflow.generators.flux2.SMALL_FILE_BYTES", 4096)
    weights = _copy(tiny_klein_dir, tmp_path / "weights")

    def folders(model: Path) -> list[Path]:
        path = campaign_dir / "campaign.yaml"
        spec = yaml.safe_load(path.read_text())
        spec["generator"] = {"backend": "flux2-klein", "options": tiny_options(model)}
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        spec, brand = load_campaign(path)
        products, _ = load_feed(spec.feed)
        jobs, _ = plan_jobs(spec, brand, [p for p in products if p.id == "white-plimsolls"])
        return [work_dir(job, spec, brand, tmp_path / "run") for job in jobs]

    first = folders(weights)
    moved = weights.rename(tmp_path / "moved")
    assert folders(moved) == first, "a moved weights folder resumes its run"
    big = _largest(moved)
    big.write_bytes(big.read_bytes())
    again = folders(moved)
    assert again and not set(again) & set(first), "new weights: every job is made again"
