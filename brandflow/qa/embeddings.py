"""Learned image embeddings for the identity check: DINOv2 (CLS token) and CLIP image embeddings.

These are the two subject-fidelity scores of DreamBooth (Ruiz et al., CVPR 2023, "DreamBooth: Fine Tuning
Text-to-Image Diffusion Models for Subject-Driven Generation", §4.1): **DINO** — cosine similarity of the
ViT CLS embeddings of a generated and a real image (DreamBooth used DINO ViT-S/16; here DINOv2, Oquab et
al. 2023, through ``transformers.Dinov2Model``), which is sensitive to a subject's distinctive features; and
**CLIP-I** — cosine similarity of CLIP image embeddings (``transformers.CLIPVisionModelWithProjection``,
``image_embeds``), which also rewards same-class look-alikes. DreamBooth's reference points (Table 1): real
photos of the same subject average DINO 0.774, CLIP-I 0.885; its generated subjects 0.668–0.696 / 0.803–0.812.

Weights are **never downloaded**: the model is loaded from a local folder only (``local_files_only=True``),
which must hold ``config.json``, the weights (``model.safetensors`` or ``pytorch_model.bin``, or a sharded
index) and ``preprocessor_config.json``. Fetch one once on a machine with hub access, e.g.::

    hf download facebook/dinov2-small --local-dir /models/dinov2-small
    hf download openai/clip-vit-base-patch32 --local-dir /models/clip-vit-base-patch32

torch and transformers are imported lazily (``pip install 'brandflow[ml-identity]'``). A model is loaded once per process and stays resident (cache keyed by method and resolved
folder), as the FLUX.2 backends do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, Literal

import numpy as np

from brandflow.errors import BrandflowError, MissingDependencyError
from brandflow.once import OncePerKey

Method = Literal["dino", "clip"]
#: The learned identity methods and the transformers model class each loads.
MODEL_CLASSES: dict[str, str] = {"dino": "Dinov2Model", "clip": "CLIPVisionModelWithProjection"}
#: A public checkpoint per method, for the download hint only.
EXAMPLE_REPOS: dict[str, str] = {"dino": "facebook/dinov2-small", "clip": "openai/clip-vit-base-patch32"}
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
INSTALL_HINT = "pip install 'brandflow[ml-identity]' (torch and transformers; CPU wheel: pip install torch==2.13.0)"


class ModelWeightsMissingError(BrandflowError, FileNotFoundError):
    """The local model folder is missing or incomplete; the message names the missing files and the
    command that downloads them (brandflow itself never downloads weights)."""


def download_hint(method: str, folder: Path | str) -> str:
    """The shell command that fetches an example checkpoint for ``method`` into ``folder``."""
    return f"hf download {EXAMPLE_REPOS.get(method, EXAMPLE_REPOS['dino'])} --local-dir {folder}"


def check_model_folder(method: str, folder: Path | str) -> Path:
    """Validate a local model folder before anything is imported or loaded.

    Args:
        method: ``"dino"`` or ``"clip"``.
        folder: the folder ``save_pretrained`` / ``hf download --local-dir`` wrote.

    Returns:
        The resolved folder.

    Raises:
        ValueError: unknown ``method``.
        ModelWeightsMissingError: the folder, ``config.json``, the weights or ``preprocessor_config.json`` is
            missing (message: what is missing and the download command).
    """
    if method not in MODEL_CLASSES:
        raise ValueError(f"qa.identity.method: unknown embedding method {method!r}; known: {', '.join(MODEL_CLASSES)}")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ModelWeightsMissingError(
            f"qa.identity.model_path: {path} is not a folder; brandflow loads {method} weights from a local folder "
            f"only and never downloads them. Fetch them once: {download_hint(method, path)}"
        )
    missing = [n for n in ("config.json", "preprocessor_config.json") if not (path / n).is_file()]
    if not any((path / n).is_file() for n in _WEIGHT_FILES):
        missing.append(" or ".join(_WEIGHT_FILES[:2]))
    if missing:
        raise ModelWeightsMissingError(
            f"qa.identity.model_path: {path} lacks {', '.join(missing)}; fetch the model: {download_hint(method, path)}"
        )
    return path.resolve()


@dataclass
class EmbeddingModel:
    """A loaded embedding model (resident for the process; use :func:`get_model`).

    Attributes:
        method: ``"dino"`` (CLS token of ``Dinov2Model.last_hidden_state``, after its final layer norm) or
            ``"clip"`` (``CLIPVisionModelWithProjection.image_embeds``).
        path: the resolved local folder.
        model: the transformers module, in eval mode.
        processor: its image processor (resize, centre crop, normalise as the checkpoint was trained).
        dim: embedding size.
    """

    method: str
    path: Path
    model: Any
    processor: Any
    dim: int

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        """Embed images.

        Args:
            images: each ``(H, W, 3) uint8`` sRGB (RGB order), any size (the processor resizes and crops).

        Returns:
            ``(N, dim) float32`` embeddings, L2-normalised (so a dot product is the cosine similarity).

        Raises:
            ValueError: an image is not ``(H, W, 3) uint8``.
        """
        import torch

        for im in images:
            if not isinstance(im, np.ndarray) or im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
                raise ValueError(f"images must be (H, W, 3) uint8 sRGB arrays; got {getattr(im, 'shape', type(im))}")
        if not images:
            return np.zeros((0, self.dim), np.float32)
        inputs = self.processor(images=list(images), return_tensors="pt")
        with torch.inference_mode():
            out = self.model(pixel_values=inputs["pixel_values"])
            emb = out.last_hidden_state[:, 0] if self.method == "dino" else out.image_embeds
            emb = torch.nn.functional.normalize(emb.float(), dim=-1)
        return emb.cpu().numpy().astype(np.float32)


_models: dict[tuple[str, str], EmbeddingModel] = {}
_models_lock = Lock()


def get_model(method: str, folder: Path | str) -> EmbeddingModel:
    """The process-wide :class:`EmbeddingModel` for ``(method, folder)``, loaded on first use from the local
    folder only (``local_files_only=True``).

    Raises:
        ValueError: unknown ``method``.
        ModelWeightsMissingError: see :func:`check_model_folder`; also when transformers cannot load the files.
        MissingDependencyError: torch or transformers is not installed.
    """
    path = check_model_folder(method, folder)
    key = (method, str(path))
    with _models_lock:
        if key in _models:
            return _models[key]
        try:
            import torch  # noqa: F401
            import transformers
        except ImportError as e:
            raise MissingDependencyError(f"the {method} identity method needs torch and transformers ({e}): {INSTALL_HINT}") from e
        cls = getattr(transformers, MODEL_CLASSES[method])
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
            model = cls.from_pretrained(str(path), local_files_only=True).eval()
        except OSError as e:
            raise ModelWeightsMissingError(
                f"qa.identity.model_path: cannot load a {MODEL_CLASSES[method]} from {path} ({e}); "
                f"fetch the model: {download_hint(method, path)}"
            ) from e
        cfg = model.config
        dim = int(getattr(cfg, "projection_dim", 0) or cfg.hidden_size) if method == "clip" else int(cfg.hidden_size)
        _models[key] = EmbeddingModel(method, path, model, processor, dim)
        return _models[key]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two 1-D embeddings, in [-1, 1] (0.0 when either has zero length)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return 0.0 if na == 0 or nb == 0 else float(np.clip(a @ b / (na * nb), -1.0, 1.0))


def reference_view(rgba: np.ndarray, matte: tuple[int, int, int] = (255, 255, 255), pad: float = 0.1) -> np.ndarray:
    """A packshot as the embedding model should see it: the alpha bounding box (alpha > 8) plus ``pad`` × its
    longest side, centred on a square ``matte`` canvas, alpha-composited.

    Args:
        rgba: ``(H, W, 4) uint8`` straight-alpha RGBA (an opaque ``(H, W, 3)`` image is returned as it is).

    Returns:
        ``(S, S, 3) uint8`` sRGB, S = longest side of the box × (1 + 2 ``pad``).
    """
    if rgba.ndim == 3 and rgba.shape[2] == 3:
        return rgba
    alpha = rgba[..., 3]
    ys, xs = np.nonzero(alpha > 8)
    if not len(ys):
        raise ValueError("reference has no visible pixel (alpha > 8)")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = rgba[y0:y1, x0:x1].astype(np.float32)
    side = round(max(crop.shape[:2]) * (1 + 2 * pad))
    canvas = np.empty((side, side, 3), np.float32)
    canvas[:] = matte
    oy, ox = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    a = crop[..., 3:] / 255.0
    region = canvas[oy : oy + crop.shape[0], ox : ox + crop.shape[1]]
    region[:] = crop[..., :3] * a + region * (1 - a)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def mask_boxes(image: np.ndarray, boxes: tuple[tuple[int, int, int, int], ...]) -> np.ndarray:
    """A copy of an ``(H, W, 3) uint8`` image with each ``(x0, y0, x1, y1)`` pixel box filled with its median
    colour — overlay text removed before embedding, so the words do not count as product features."""
    if not boxes:
        return image
    out = image.copy()
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
        if x1 > x0 and y1 > y0:
            box = out[y0:y1, x0:x1]
            box[:] = np.median(box.reshape(-1, 3), axis=0).astype(np.uint8)
    return out


def cut_out(rgba: np.ndarray) -> np.ndarray:
    """An ``(H, W, 4) uint8`` packshot whose alpha marks the product: unchanged when it has transparency, else
    (an opaque JPEG on white, a photo) with the mask of :func:`brandflow.qa.segment.product_mask` as alpha —
    so the embedding sees the product, not its backdrop."""
    from brandflow.qa.segment import product_mask

    mask, how = product_mask(rgba)
    if how == "alpha":
        return rgba
    out = rgba.copy() if rgba.shape[2] == 4 else np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
    out[..., 3] = mask
    return out


#: Reference embeddings kept in memory, keyed by (method, model folder, reference path, sha256).
REF_CACHE_SIZE = 256
_ref_cache: OncePerKey[np.ndarray] = OncePerKey(REF_CACHE_SIZE)


def reference_embedding(model: EmbeddingModel, path: Path | str) -> np.ndarray:
    """The ``(dim,) float32`` unit embedding of a reference packshot (:func:`reference_view` of its
    :func:`cut_out`), cached
    per process by (method, model folder, path, sha256 of the file).

    Raises:
        ImageError: the file cannot be decoded.
        ValueError: the packshot has no visible pixel.
    """
    from brandflow.imageio import INPUT_MAX_SIDE, load_rgba
    from brandflow.records import sha256_file

    path = Path(path)
    key = (model.method, str(model.path), str(path.resolve()), sha256_file(path))
    return _ref_cache.get(key, lambda: model.embed([reference_view(cut_out(load_rgba(path, max_side=INPUT_MAX_SIDE)))])[0])[0]
