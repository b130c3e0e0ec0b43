"""The learned identity option (DINOv2 / CLIP-I embeddings) with tiny random-weight models built offline.

The models are saved with ``save_pretrained`` into a temp folder and loaded back through the real loading
code (``local_files_only=True``), as a user's downloaded checkpoint would be.
"""

from __future__ import annotations

import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import brandflow.qa.embeddings as embeddings  # noqa: E402
from brandflow.errors import MissingDependencyError  # noqa: E402
from brandflow.imageio import load_rgba  # noqa: E402
from brandflow.qa.embeddings import ModelWeightsMissingError, get_model, reference_view  # noqa: E402
from brandflow.qa.identity import IdentityCheck  # noqa: E402


def _save_dino(folder):
    torch.manual_seed(0)
    cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                                    image_size=56, patch_size=14)
    transformers.Dinov2Model(cfg).eval().save_pretrained(folder)
    transformers.BitImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56}).save_pretrained(folder)
    return folder


def _save_clip(folder):
    torch.manual_seed(0)
    cfg = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                                        image_size=32, patch_size=8, projection_dim=16)
    transformers.CLIPVisionModelWithProjection(cfg).eval().save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``{"dino": folder, "clip": folder}`` of tiny random-weight checkpoints."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {"dino": _save_dino(root / "dino"), "clip": _save_clip(root / "clip")}


def _thresholds(method, path, pass_score=0.7, warn_score=0.5):
    """A QA spec stand-in with ``identity.method`` / ``identity.model_path`` (the fields the spec is to gain)."""
    return SimpleNamespace(identity=SimpleNamespace(pass_score=pass_score, warn_score=warn_score, method=method, model_path=path))


@pytest.mark.parametrize(("method", "dim"), [("dino", 32), ("clip", 16)])
def test_embeddings_are_unit_deterministic_and_loaded_once(models, tmp_path, method, dim, gradient):
    model = get_model(method, models[method])
    assert get_model(method, models[method]) is model  # resident per process
    assert model.method == method and model.dim == dim and not model.model.training
    images = [gradient(200), np.zeros((90, 120, 3), np.uint8), np.full((300, 200, 3), 255, np.uint8)]
    a = model.embed(images)
    assert a.shape == (3, dim) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(model.embed(images), a)  # deterministic (eval mode, no dropout)
    copy = shutil.copytree(models[method], tmp_path / "copy")  # a second load of the same files: same numbers
    np.testing.assert_allclose(get_model(method, copy).embed(images), a, atol=1e-6)
    assert model.embed([]).shape == (0, dim)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        model.embed([np.zeros((8, 8), np.uint8)])


@pytest.mark.parametrize("method", ["dino", "clip"])
def test_identity_check_learned_scores(models, packshots, make_ctx, method):
    ref = packshots / "saleor-mighty-mug.png"
    same = reference_view(load_rgba(ref))  # the creative is exactly what the reference embeds as
    ctx = make_ctx(references=(ref,), thresholds=_thresholds(method, models[method]))
    res = IdentityCheck().run(same, ctx)
    m = res.metrics
    assert m["method"] == method and m["model"] == str(models[method].resolve())
    assert m["cosine"] == pytest.approx(1.0, abs=1e-4) and m["score"] == pytest.approx(1.0, abs=1e-4)
    assert res.verdict == "pass" and m["best_reference"] == ref.name
    assert m["references_checked"] == 1 and m["references_total"] == 1
    assert res.thresholds == {"pass_score": 0.7, "warn_score": 0.5}

    other = np.asarray(Image.open(packshots / "saleor-blue-hoodie.png").convert("RGB").resize((300, 300)))
    refs = (packshots / "saleor-apple-drink.png", ref)
    res2 = IdentityCheck().run(other, make_ctx(references=refs, thresholds=_thresholds(method, models[method], pass_score=1.0)))
    m2 = res2.metrics
    assert -1.0 <= m2["cosine"] <= 1.0 and 0.0 <= m2["score"] <= 1.0 and m2["score"] == max(0.0, m2["cosine"])
    assert m2["references_checked"] == 2 and [p["reference"] for p in m2["per_reference"]] == [r.name for r in refs]
    assert res2.verdict in ("warn", "fail") and res2.reasons and method in res2.reasons[0]
    again = IdentityCheck().run(other, make_ctx(references=refs, thresholds=_thresholds(method, models[method], pass_score=1.0)))
    assert again.metrics == m2  # deterministic, also through the reference cache


def test_overlay_regions_are_blanked_before_embedding(models, draw_text, make_ctx, packshots):
    ref = packshots / "saleor-mighty-mug.png"
    clean = reference_view(load_rgba(ref))
    texted, regions = draw_text(clean, [("headline", "Mighty Mug", (10, 10), 40, (17, 17, 17))])
    th = _thresholds("dino", models["dino"])
    with_regions = IdentityCheck().run(texted, make_ctx(references=(ref,), regions=tuple(regions), thresholds=th))
    without = IdentityCheck().run(texted, make_ctx(references=(ref,), thresholds=th))
    assert with_regions.metrics["cosine"] != without.metrics["cosine"]  # the text box is filled before embedding


def test_missing_or_incomplete_model_folder_is_a_clear_error(models, tmp_path, make_ctx, packshots):
    ctx = make_ctx(references=(packshots / "saleor-mighty-mug.png",), thresholds=_thresholds("dino", tmp_path / "nowhere"))
    with pytest.raises(ModelWeightsMissingError, match="hf download facebook/dinov2-small --local-dir .*nowhere"):
        IdentityCheck().run(np.zeros((64, 64, 3), np.uint8), ctx)
    partial = shutil.copytree(models["clip"], tmp_path / "partial")
    (partial / "model.safetensors").unlink()
    (partial / "preprocessor_config.json").unlink()
    with pytest.raises(ModelWeightsMissingError, match="lacks preprocessor_config.json, model.safetensors or pytorch_model.bin"):
        get_model("clip", partial)
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError, for callers that catch that
        get_model("clip", tmp_path / "nowhere")


def test_learned_method_needs_a_path_and_a_known_name(make_ctx, packshots):
    refs = (packshots / "saleor-mighty-mug.png",)
    with pytest.raises(ValueError, match="needs qa.identity.model_path"):
        IdentityCheck().run(np.zeros((64, 64, 3), np.uint8), make_ctx(references=refs, thresholds=_thresholds("clip", None)))
    with pytest.raises(ValueError, match="qa.identity.method must be one of keypoints, dino, clip"):
        IdentityCheck().run(np.zeros((64, 64, 3), np.uint8), make_ctx(references=refs, thresholds=_thresholds("sift", None)))
    with pytest.raises(ValueError, match="unknown embedding method"):
        embeddings.check_model_folder("vgg", ".")


def test_missing_transformers_names_the_install_command(models, tmp_path, monkeypatch):
    folder = shutil.copytree(models["dino"], tmp_path / "fresh")  # not in the process cache yet
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r"pip install .brandflow\[ml-identity\]."):
        get_model("dino", folder)


def test_cosine_and_reference_view():
    assert embeddings.cosine([1, 0], [0, 2]) == 0.0 and embeddings.cosine([1, 1], [-2, -2]) == pytest.approx(-1.0)
    assert embeddings.cosine([0, 0], [1, 0]) == 0.0
    rgba = np.zeros((50, 40, 4), np.uint8)
    rgba[10:30, 5:15] = (200, 0, 0, 255)
    view = reference_view(rgba)
    assert view.shape == (24, 24, 3) and view.dtype == np.uint8  # 20 px box + 2 × 10 %
    assert tuple(view[12, 12]) == (200, 0, 0) and tuple(view[0, 0]) == (255, 255, 255)
    with pytest.raises(ValueError, match="no visible pixel"):
        reference_view(np.zeros((8, 8, 4), np.uint8))
