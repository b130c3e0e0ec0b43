"""A campaign with `generator: flux2-klein` pointing at a tiny saved pipeline runs end to end through the Prefect flow."""

from __future__ import annotations

import contextlib
from pathlib import Path

import yaml
from PIL import Image

from brandflow.generators import flux2, gpu

LIMIT = gpu.limit_name("cpu")  # the campaign below generates on device "cpu"


@contextlib.contextmanager
def prefect_gpu_limit(name: str):
    """A global concurrency limit of 1 slot on the (test-harness) Prefect server, removed afterwards."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)


def test_campaign_on_flux2_klein_end_to_end(prefect_harness, campaign_dir: Path, tiny_klein_dir, tiny_options, tmp_path, monkeypatch):
    import prefect.concurrency.sync

    from brandflow.flows.campaign import campaign_flow
    from brandflow.manifest import RunManifest

    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["formats"] = [{"name": "square", "width": 1080, "height": 1080, "file_type": "png"}]
    spec["variants"] = 1
    spec["generator"] = {"backend": "flux2-klein", "options": tiny_options(tiny_klein_dir)}
    spec["qa"] = {"checks": ["format"], "max_attempts": 1}  # noise from random weights: only the format check is meaningful
    path.write_text(yaml.safe_dump(spec, sort_keys=False))

    taken: list[str] = []
    real_concurrency = prefect.concurrency.sync.concurrency

    def spy(names, *args, **kwargs):
        taken.append(names)
        return real_concurrency(names, *args, **kwargs)

    monkeypatch.setattr(prefect.concurrency.sync, "concurrency", spy)
    before = flux2.load_count()
    with prefect_gpu_limit(LIMIT):
        gpu.reset()
        result = campaign_flow(str(path), str(tmp_path / "run"), only=["white-plimsolls"])

    manifest = RunManifest.read(result.manifest)
    assert manifest.backend == "flux2-klein"
    assert [j.backend for j in manifest.jobs] == ["flux2-klein"]
    final = manifest.jobs[0].final
    assert final.error is None, final.error
    assert final.creative is not None
    with Image.open(final.creative.path) as im:
        assert im.size == (1080, 1080), "compose delivers the exact format size"
    generated = list((tmp_path / "run" / "work").rglob("generated.png"))
    assert len(generated) == 1
    with Image.open(generated[0]) as im:
        assert im.size == (144, 144), "generated at the native size (multiple of 16, ~0.02 MP)"
    assert flux2.load_count() - before == 1
    assert taken == [LIMIT], "GPU work took the Prefect global concurrency limit"
