"""Fixtures of the FLUX.2 backend tests: tiny random-weight pipelines saved once per session, jobs on real packshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec
from brandflow.generators import flux2, gpu
from brandflow.generators.flux2_tiny import TINY_OUT_LAYERS, save_tiny_pipeline

IMAGES = Path(__file__).resolve().parents[2] / "examples" / "saleor" / "images"
PLIMSOLLS = [IMAGES / f"saleor-white-plimsolls-{i}.png" for i in (1, 2, 3)]


@pytest.fixture(scope="session")
def tiny_klein_dir(tmp_path_factory) -> Path:
    """A tiny Flux2KleinPipeline saved with save_pretrained (diffusers layout, safetensors)."""
    return save_tiny_pipeline("klein", tmp_path_factory.mktemp("tiny-flux2-klein"))


@pytest.fixture(scope="session")
def tiny_dev_dir(tmp_path_factory) -> Path:
    """A tiny Flux2Pipeline (FLUX.2 [dev] architecture) saved with save_pretrained."""
    return save_tiny_pipeline("dev", tmp_path_factory.mktemp("tiny-flux2-dev"))


@pytest.fixture(autouse=True)
def no_resident_pipeline():
    """Each test starts and ends without a resident pipeline or cached Prefect look-ups."""
    flux2.release_resident()
    gpu.reset()
    yield
    flux2.release_resident()
    gpu.reset()


def _tiny_options(folder: Path, **overrides) -> dict:
    """generator.options for a tiny pipeline on the CPU: float32, 2 steps, ~0.02 MP output, 64×64 references."""
    return {
        "model": str(folder),
        "device": "cpu",
        "dtype": "float32",
        "steps": 2,
        "target_megapixels": 0.02,
        "reference_megapixels": 0.004,
        "text_encoder_out_layers": list(TINY_OUT_LAYERS),
        **overrides,
    }


def _make_job(
    seed: int = 1,
    size: tuple[int, int] = (1080, 1080),
    references: list[Path] | None = None,
    roles: list[str] | None = None,
    scene: str = "white canvas plimsolls on a soft blue studio background",
    variant: int = 0,
    backend: str = "flux2-klein",
) -> Job:
    """A job for the white plimsolls with real packshots as references (primary first unless `roles` says otherwise)."""
    paths = PLIMSOLLS if references is None else references
    roles = roles or ["primary_packshot"] + ["alternate_view"] * (len(paths) - 1)
    return Job(
        campaign="test",
        product_id="white-plimsolls",
        product_title="White Plimsolls",
        format=FormatSpec(name=f"f{size[0]}x{size[1]}", width=size[0], height=size[1]),
        variant=variant,
        seed=seed,
        backend=backend,
        prompt=StructuredPrompt(scene=scene, subjects=[Subject(description="white canvas plimsolls", position="centre")], color_palette=["#1A63EC"]),
        references=[ReferenceImage(path=p, role=r, sha256=sha256_file(p)) for p, r in zip(paths, roles)],  # type: ignore[arg-type]
    )


@pytest.fixture
def tiny_options():
    """``tiny_options(folder, **overrides)`` → generator.options for a tiny pipeline on the CPU."""
    return _tiny_options


@pytest.fixture
def make_job():
    """``make_job(seed=…, size=…, references=…, roles=…, scene=…)`` → a Job on the white plimsolls' packshots."""
    return _make_job


@pytest.fixture
def pipeline_calls(monkeypatch) -> list[dict]:
    """The keyword arguments of every diffusion-pipeline call made during the test (the real call still runs)."""
    calls: list[dict] = []
    real = flux2.Flux2Generator._call_pipeline

    def spy(gen, pipe, **kwargs):
        calls.append(kwargs)
        return real(gen, pipe, **kwargs)

    monkeypatch.setattr(flux2.Flux2Generator, "_call_pipeline", spy)
    return calls
