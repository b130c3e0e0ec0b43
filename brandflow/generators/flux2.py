"""FLUX.2 on a local GPU: the ``flux2`` (FLUX.2 [dev]) and ``flux2-klein`` (FLUX.2 [klein] 4B/9B) backends.

The campaign's structured prompt (minified JSON) and the product's packshots go into diffusers'
``Flux2Pipeline`` / ``Flux2KleinPipeline`` as ``prompt=`` and ``image=[…]``, with weights from a local
folder or the local Hugging Face cache only. What this module adds around the pipeline:

- **Options** (:mod:`.flux2_options`): validated, with each variant's documented defaults.
- **Offline loading**: ``local_files_only=True`` always; missing weights → :class:`WeightsNotFoundError`
  that says where to put them and gives the ``hf download`` command. torch/diffusers are imported lazily;
  if absent → :class:`~brandflow.errors.MissingDependencyError` with ``pip install 'brandflow[flux2]'``.
- **One resident pipeline per process** (module-level, :func:`load_count` counts loads), reused by every
  job and every generator instance with the same model, dtype, variant and memory mode.
- **Sizes**: the multiple of 16 nearest the format's aspect at ``target_megapixels`` (compose delivers the
  exact format size afterwards).
- **Seeds**: one ``torch.Generator`` per image, on the CPU, seeded with ``job.seed``, so each image of a
  batch reproduces alone (to within 1/255 per channel: batched and single kernels round differently).
- **GPU serialisation** (:mod:`.gpu`): loading and denoising run inside :func:`~.gpu.gpu_slot`.
- **Out of memory**: ``torch.cuda.OutOfMemoryError`` → retry once in the next lighter memory mode (which
  then sticks for this generator), then :class:`GenerationOutOfMemoryError` for that job only.
- **No CUDA** with ``device: cuda`` → :class:`DeviceUnavailableError` suggesting ``compositor`` or a remote backend.

Set-up, weights and memory modes: ``docs/gpu.md``.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from brandflow.errors import BrandflowError, ImageError, MissingDependencyError
from brandflow.imageio import load_rgb, write_work_png
from brandflow.records import ModelLicence, GeneratedImage, Job, ReferenceImage, sha256_file_cached
from brandflow.generators.base import Capabilities, Generator, JobCost, gpu_cost, order_references
from brandflow.generators.flux2_options import (
    GPU_SECONDS_PER_IMAGE,
    MEGAPIXEL,
    VARIANTS,
    Flux2Options,
    GeneratorOptionsError,
    VariantInfo,
    lighter_memory_mode,
    native_size,
    parse_options,
)
from brandflow.generators.gpu import gpu_slot

if TYPE_CHECKING:
    from brandflow.spec import BudgetSpec

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'brandflow[flux2]'"
#: Oldest diffusers with both pipelines and the ``dtype=`` keyword this module passes.
MIN_DIFFUSERS = (0, 42, 1)
#: Smallest reference side diffusers' Flux2ImageProcessor.check_image_input accepts, pixels.
MIN_REFERENCE_SIDE = 64
#: Side granularity of FLUX.2 images: VAE factor 8 × 2×2 latent packing.
SIZE_MULTIPLE = 16


# --------------------------------------------------------------------------- errors and warnings
class PromptTruncatedWarning(UserWarning):
    """The structured prompt has more tokens than ``max_sequence_length``; the model reads only the first ones."""


class WeightsNotFoundError(BrandflowError, FileNotFoundError):
    """The model weights are not on this machine (or not complete); the message gives the download command."""


class DeviceUnavailableError(BrandflowError, RuntimeError):
    """``generator.options.device`` names a CUDA device this process cannot see."""


class GenerationOutOfMemoryError(BrandflowError, RuntimeError):
    """CUDA ran out of memory for a job, also in the next lighter memory mode; names the job(s) and the fixes."""


# --------------------------------------------------------------------------- lazy imports
def _import(name: str) -> Any:
    """``importlib.import_module(name)``: the one seam through which torch and diffusers are imported."""
    return importlib.import_module(name)


def _has_module(name: str) -> bool:
    """Whether ``name`` is importable, without importing it (optional quantisation libraries)."""
    return importlib.util.find_spec(name) is not None


def require_torch_stack() -> tuple[Any, Any]:
    """Import ``torch`` and ``diffusers`` (and check ``transformers``) for the FLUX.2 backends.

    Returns:
        ``(torch, diffusers)`` modules.

    Raises:
        MissingDependencyError: one is not installed, or diffusers is older than 0.42.1; the message gives
            ``pip install 'brandflow[flux2]'``.
    """
    try:
        torch = _import("torch")
        diffusers = _import("diffusers")
        _import("transformers")
    except ImportError as e:
        missing = getattr(e, "name", None) or "torch/diffusers/transformers"
        raise MissingDependencyError(
            f"the flux2 / flux2-klein generator backends need {missing}, which is not installed: {INSTALL_HINT} "
            "(on a machine with an NVIDIA GPU; see docs/gpu.md). Without a GPU, use generator.backend: compositor."
        ) from e
    version = tuple(int(x) for x in re.findall(r"\d+", diffusers.__version__)[:3])
    if version < MIN_DIFFUSERS or not hasattr(diffusers, "Flux2KleinPipeline"):
        raise MissingDependencyError(
            f"diffusers {diffusers.__version__} is too old for the FLUX.2 backends (needs ≥ {'.'.join(map(str, MIN_DIFFUSERS))}): {INSTALL_HINT}"
        )
    return torch, diffusers


# --------------------------------------------------------------------------- weights
#: Files up to this size (configs, index files, small tokenizer files) are named by their sha256 in
#: :func:`weights_fingerprint`; larger ones (the weights, GBs) by size and modification time.
SMALL_FILE_BYTES = 1 << 20


def weights_fingerprint(folder: Path) -> str:
    """sha256 naming the weights in a diffusers-layout ``folder`` by what they are, not where they are.

    Every file below ``folder`` counts (symbolic links followed; dot-folders such as ``.cache/huggingface`` that
    ``hf download --local-dir`` writes are skipped) by its relative path and: for a Hugging Face cache snapshot's
    link, the blob it points at (the cache names blobs by their content hash); for a file up to
    :data:`SMALL_FILE_BYTES`, its sha256; for a larger one, its size and modification time in ns (hashing
    gigabytes of weights on every run would cost minutes). So weights saved over the old ones give a new
    fingerprint, and a folder moved, or copied with its times kept (``cp -a``, ``rsync -a``), keeps it.

    Raises:
        OSError: a file cannot be read.
    """
    entries = []
    for path in sorted(p for p in folder.rglob("*") if not any(part.startswith(".") for part in p.relative_to(folder).parts)):
        if not path.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        link = Path(os.readlink(path)) if path.is_symlink() else None
        if link is not None and "blobs" in link.parts:
            entries.append((rel, "blob", link.name))
            continue
        st = path.stat()
        if st.st_size <= SMALL_FILE_BYTES:
            entries.append((rel, "sha256", sha256_file_cached(path)))
        else:
            entries.append((rel, "stat", f"{st.st_size}:{st.st_mtime_ns}"))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def download_hint(info: VariantInfo, local_dir: str | Path | None = None) -> str:
    """The commands that put ``info``'s weights on this machine (run once, by hand, with network access)."""
    target = Path(local_dir) if local_dir else Path("/models") / info.repo_id.split("/")[1]
    return (
        f"download them once, on a machine with network access: `hf download {info.repo_id} --local-dir {target}` "
        f"and set generator.options.model: {target} — or `hf download {info.repo_id}` into the Hugging Face cache "
        f"and set model: {info.repo_id}. Gated repositories (FLUX.2-dev is one) need their license accepted on the "
        "model page and `hf auth login` first. See docs/gpu.md"
    )


def resolve_model_path(model: str, info: VariantInfo) -> Path:
    """The local folder holding ``model``'s weights in diffusers layout, without any network access.

    Args:
        model: a folder (absolute, ``~``, or relative: load_campaign resolves it against the campaign file) or a Hugging Face repo id
            (``owner/name``) that must already be in the local Hugging Face cache (``HF_HUB_CACHE``).
        info: the variant, for the download command in errors.

    Returns:
        The folder that contains ``model_index.json``.

    Raises:
        WeightsNotFoundError: no such folder, a folder without ``model_index.json``, or a repo id that is
            not in the local cache. The message says where to put the weights and how to download them.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise WeightsNotFoundError(
                f"generator.options.model: {path} has no model_index.json, so it is not a diffusers-format FLUX.2 "
                f"{info.name} folder; {download_hint(info, path)}"
            )
        return path.resolve()
    if _REPO_RE.match(model):
        hub = _import("huggingface_hub")
        try:
            return Path(hub.snapshot_download(repo_id=model, local_files_only=True))
        except Exception as e:  # noqa: BLE001 — LocalEntryNotFoundError and friends: all mean "not here"
            cache = getattr(getattr(hub, "constants", None), "HF_HUB_CACHE", "the Hugging Face cache")
            raise WeightsNotFoundError(
                f"FLUX.2 {info.name} weights not found: generator.options.model = {model!r} is neither a folder nor in "
                f"the local Hugging Face cache ({cache}; {type(e).__name__}). brandflow never downloads weights "
                f"during a run (local_files_only=True); {download_hint(info)}"
            ) from None
    raise WeightsNotFoundError(f"generator.options.model: folder {path} does not exist; {download_hint(info, path)}")


# --------------------------------------------------------------------------- the resident pipeline
@dataclass(frozen=True)
class ResidentKey:
    """What makes two loaded pipelines interchangeable (the module cache key)."""

    model: str
    variant: str
    dtype: str
    memory_mode: str
    device: str
    quantization: str
    compile: bool
    attention_backend: str | None

    @classmethod
    def of(cls, opts: Flux2Options, memory_mode: str) -> ResidentKey:
        """The key of ``opts`` (resolved by ``parse_options``) loaded in ``memory_mode``."""
        return cls(
            str(opts.model), str(opts.variant), opts.dtype, memory_mode, opts.device, opts.quantization, opts.compile, opts.attention_backend
        )


_resident: tuple[ResidentKey, Any] | None = None
_load_count = 0
_load_lock = threading.RLock()


def load_count() -> int:
    """How many times this process has loaded a FLUX.2 pipeline (1 for a whole run when reuse works)."""
    return _load_count


def resident_key() -> ResidentKey | None:
    """The key of the pipeline currently resident in this process, or ``None``."""
    return _resident[0] if _resident else None


def release_resident() -> None:
    """Drop the resident pipeline and return its memory (``gc`` + ``torch.cuda.empty_cache()``)."""
    global _resident
    with _load_lock:
        if _resident is None:
            return
        pipe = _resident[1]
        _resident = None
        try:
            pipe.remove_all_hooks()
        except Exception as e:  # noqa: BLE001 — best effort: the object is dropped either way
            log.debug("remove_all_hooks failed while releasing the pipeline: %s", e)
        del pipe
        _free_memory()


def _free_memory() -> None:
    gc.collect()
    torch = _import("torch")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def get_pipeline(opts: Flux2Options, memory_mode: str) -> Any:
    """The resident pipeline for ``opts`` in ``memory_mode``: loaded once per process, then reused.

    A request with another key (model, variant, dtype, memory mode, device, quantisation, compile,
    attention backend) first releases the resident pipeline: one process holds one model.

    Raises:
        See :func:`load_pipeline`.
    """
    global _resident, _load_count
    key = ResidentKey.of(opts, memory_mode)
    with _load_lock:
        if _resident is not None and _resident[0] == key:
            return _resident[1]
        release_resident()
        t0 = time.perf_counter()
        pipe = load_pipeline(opts, memory_mode)
        _resident, _load_count = (key, pipe), _load_count + 1
        log.info("loaded FLUX.2 %s from %s (%s, memory_mode %s) in %.1f s", opts.variant, opts.model, opts.dtype, memory_mode, time.perf_counter() - t0)
        return pipe


def _quantization_config(opts: Flux2Options, torch: Any, diffusers: Any) -> Any:
    """diffusers' ``PipelineQuantizationConfig`` for ``opts.quantization`` (as diffusers' quantisation docs show it)."""
    if opts.quantization == "none":
        return None
    if opts.quantization == "bitsandbytes":
        if not _has_module("bitsandbytes"):
            raise MissingDependencyError(
                "generator.options.quantization: bitsandbytes needs the bitsandbytes package (NVIDIA GPUs only): "
                "pip install 'bitsandbytes>=0.45'"
            )
        # 4-bit NF4 transformer and text encoder, computing in the pipeline dtype — the set-up of BFL's
        # "Lower VRAM" recipe (diffusers/FLUX.2-dev-bnb-4bit) done at load time.
        return diffusers.PipelineQuantizationConfig(
            quant_backend="bitsandbytes_4bit",
            quant_kwargs={"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": getattr(torch, opts.dtype)},
            components_to_quantize=["transformer", "text_encoder"],
        )
    if not _has_module("torchao"):
        raise MissingDependencyError("generator.options.quantization: torchao needs the torchao package: pip install torchao")
    from torchao.quantization import Int8WeightOnlyConfig  # type: ignore[import-not-found]

    # int8 weight-only transformer (diffusers' TorchAoConfig example); the text encoder stays in dtype.
    return diffusers.PipelineQuantizationConfig(quant_mapping={"transformer": diffusers.TorchAoConfig(Int8WeightOnlyConfig())})


def apply_memory_mode(pipe: Any, mode: str, device: str, torch: Any) -> None:
    """Place a freshly loaded pipeline on ``device`` according to ``mode`` (diffusers' offloading APIs).

    ``none``: ``pipe.to(device)``. ``model_cpu_offload``: ``enable_model_cpu_offload`` (one whole model on the
    GPU at a time). ``group_offload``: ``enable_group_offload`` at leaf level with CUDA-stream prefetching.
    ``sequential_cpu_offload``: ``enable_sequential_cpu_offload`` (leaf by leaf; no-op on a CPU device).

    Raises:
        GeneratorOptionsError: unknown ``mode``.
    """
    dev = torch.device(device)
    if mode == "none":
        pipe.to(dev)
    elif mode == "model_cpu_offload":
        pipe.enable_model_cpu_offload(device=dev)
    elif mode == "group_offload":
        # Leaf-level groups with CUDA-stream prefetching: near sequential offload's VRAM, much faster
        # (diffusers' memory guide; the FLUX.2 modular example uses the same settings).
        pipe.enable_group_offload(onload_device=dev, offload_device=torch.device("cpu"), offload_type="leaf_level", use_stream=dev.type == "cuda")
    elif mode == "sequential_cpu_offload":
        if dev.type == "cpu":  # offloading to the CPU from the CPU is a no-op, and accelerate rejects it
            log.info("memory_mode sequential_cpu_offload has no effect on device cpu")
            pipe.to(dev)
        else:
            pipe.enable_sequential_cpu_offload(device=dev)
    else:  # parse_options already refused it; kept for direct callers
        raise GeneratorOptionsError(f"generator.options.memory_mode: unknown mode {mode!r}")


def load_pipeline(opts: Flux2Options, memory_mode: str) -> Any:
    """Load the FLUX.2 pipeline for ``opts`` from local files only and prepare it for ``memory_mode`` (uncached).

    Steps: resolve the folder (:func:`resolve_model_path`), check that its ``model_index.json`` names the
    variant's pipeline class, ``from_pretrained(folder, dtype=…, local_files_only=True[, quantization_config])``,
    place it per memory mode, then the optional attention backend and regional ``torch.compile``.

    Raises:
        MissingDependencyError: torch/diffusers, or the quantisation library, is missing.
        WeightsNotFoundError: weights missing or incomplete.
        GeneratorOptionsError: the folder holds another pipeline than the variant's, or an unknown attention backend.
    """
    torch, diffusers = require_torch_stack()
    info = opts.info
    folder = resolve_model_path(str(opts.model), info)
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError) as e:
        raise WeightsNotFoundError(f"{folder}/model_index.json is unreadable ({e}); {download_hint(info, folder)}") from None
    found = index.get("_class_name")
    if found != info.pipeline_class:
        raise GeneratorOptionsError(
            f"generator.options.variant: {info.name!r} needs a {info.pipeline_class} checkpoint, but {folder} holds a {found}. "
            "Fix: point generator.options.model at the variant's weights, or set the variant (and backend) that matches them"
        )
    if info.pipeline_class == "Flux2KleinPipeline" and index.get("is_distilled") is False and (opts.steps or 0) < 20:
        log.warning(
            "%s is not step-distilled (a klein Base checkpoint): %s steps will look unfinished; set generator.options.steps: 50 "
            "and guidance: 4.0", folder, opts.steps,
        )
    kwargs: dict[str, Any] = {"dtype": getattr(torch, opts.dtype), "local_files_only": True}
    quant = _quantization_config(opts, torch, diffusers)
    if quant is not None:
        kwargs["quantization_config"] = quant
    try:
        pipe = getattr(diffusers, info.pipeline_class).from_pretrained(str(folder), **kwargs)
    except OSError as e:  # a missing shard or config: an interrupted download, mostly
        raise WeightsNotFoundError(f"could not load FLUX.2 {info.name} weights from {folder}: {e}. {download_hint(info, folder)}") from e
    apply_memory_mode(pipe, memory_mode, opts.device, torch)
    if opts.attention_backend:
        from diffusers.models.attention_dispatch import AttentionBackendName

        known = sorted(b.value for b in AttentionBackendName)
        if opts.attention_backend not in known:
            raise GeneratorOptionsError(
                f"generator.options.attention_backend: {opts.attention_backend!r} is not a diffusers attention backend. Fix: use one of {', '.join(known)}"
            )
        try:
            pipe.transformer.set_attention_backend(opts.attention_backend)
        except Exception as e:  # e.g. flash-attn not installed: say which option caused it
            raise GeneratorOptionsError(f"generator.options.attention_backend: {opts.attention_backend!r} cannot be used here: {e}") from e
    if opts.compile:
        # Regional compilation (diffusers' recommendation for DiTs): compiles the repeated transformer
        # blocks once each, so warm-up takes seconds rather than minutes.
        pipe.transformer.compile_repeated_blocks(fullgraph=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --------------------------------------------------------------------------- prompts and references
def count_prompt_tokens(pipe: Any, prompt: str) -> int:
    """Tokens the pipeline's tokenizer makes of ``prompt`` before truncation, chat template included.

    Mirrors the text path of diffusers' ``Flux2KleinPipeline._get_qwen3_prompt_embeds`` (user turn +
    generation prompt) and ``Flux2Pipeline._get_mistral_3_small_prompt_embeds`` (system message + user turn).
    """
    tok = pipe.tokenizer
    if hasattr(pipe, "system_message"):  # Flux2Pipeline (dev)
        from diffusers.pipelines.flux2.pipeline_flux2 import format_input

        enc = tok.apply_chat_template(
            format_input([prompt], system_message=pipe.system_message), add_generation_prompt=False, tokenize=True, return_dict=True
        )
        return len(enc["input_ids"][0])
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True, enable_thinking=False)
    return len(tok(text)["input_ids"])


@functools.lru_cache(maxsize=64)
def load_reference_image(path: str, sha256: str, max_pixels: int) -> Image.Image:
    """A reference packshot as the pipeline gets it: RGB, alpha flattened onto white, area ≤ ``max_pixels``.

    Cached (64 entries) by ``(path, sha256, max_pixels)``, so the same packshot is decoded once per process;
    callers must not modify the returned image.

    Raises:
        ImageError: unreadable, or a side under 64 px after scaling (diffusers' Flux2ImageProcessor minimum).
    """
    im = Image.fromarray(load_rgb(path))
    if im.width * im.height > max_pixels:
        scale = (max_pixels / (im.width * im.height)) ** 0.5
        im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))), Image.Resampling.LANCZOS)
    if min(im.size) < MIN_REFERENCE_SIDE:
        raise ImageError(
            f"{path}: reference image is {im.width}×{im.height} px after scaling; FLUX.2 needs ≥ {MIN_REFERENCE_SIDE} px per side "
            "(raise generator.options.reference_megapixels, or use a larger packshot)"
        )
    return im


# --------------------------------------------------------------------------- the backends
class Flux2Generator(Generator):
    """FLUX.2 [dev] through diffusers' ``Flux2Pipeline`` (backend ``flux2``); see the module docstring.

    Args:
        options: the campaign's ``generator.options`` (see :class:`~.flux2_options.Flux2Options` and docs/gpu.md).
            Validated here; nothing heavy is imported or loaded until the first ``generate``.

    Raises:
        GeneratorOptionsError: invalid options (names ``generator.options.<field>``).
    """

    name = "flux2"
    Options = Flux2Options
    pricing = ("GPU-seconds × budget.price_per_gpu_hour; estimates from budget.gpu_seconds_per_image or the per-variant "
               "table (brandflow/generators/flux2_options.py, GPU_SECONDS_PER_IMAGE), scaled by area and steps")

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options: Flux2Options = self.parse_options(options)
        #: The memory mode in use; an out-of-memory fallback moves it to a lighter mode for good.
        self.memory_mode: str = self.options.memory_mode

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> Flux2Options:
        """Validate ``options`` for this backend without torch (usable at campaign-validation time).

        Raises:
            GeneratorOptionsError: see :func:`~.flux2_options.parse_options`.
        """
        return parse_options(cls.name, options)

    @classmethod
    def pixel_key(cls, options: Mapping[str, Any]) -> Any:
        """``options`` with ``model`` replaced by :func:`weights_fingerprint` of the folder it resolves to (no
        network), so that resumption follows the weights, not their path. Options that do not parse or weights
        not found: the options as given (the run then fails with that error, and nothing is resumed from)."""
        try:
            opts = cls.parse_options(options)
            folder = resolve_model_path(str(opts.model), opts.info)
            return {**options, "model": f"weights:{weights_fingerprint(folder)}"}
        except (BrandflowError, ImportError, OSError):
            return options

    @classmethod
    def model_licence(cls, options: Mapping[str, Any]) -> ModelLicence:
        """The licence of the weights ``options`` select (by ``variant``; a local folder or fine-tune of a
        variant stays under that variant's licence). Loads nothing; the licence guard calls it.

        Raises:
            GeneratorOptionsError: invalid options.
        """
        info = cls.parse_options(options).info
        return ModelLicence(
            model=info.display, model_id=info.repo_id, licence=info.license, url=info.license_url,
            commercial_use=info.commercial_use,
        )

    @property
    def batch_size(self) -> int:
        """Images per pipeline call (``generator.options.batch_size``); the flow batches jobs by it."""
        return self.options.batch_size

    @property
    def capabilities(self) -> Capabilities:
        """``batch_size`` images per call, the variant's reference limit (or ``max_references``), sizes in multiples of 16."""
        return Capabilities(batch_size=self.options.batch_size, max_references=self.options.max_references, size_multiple=SIZE_MULTIPLE)

    @classmethod
    def estimate(cls, options: Any, width: int, height: int, references: Any, budget: BudgetSpec) -> JobCost:
        """GPU-seconds × ``budget.price_per_gpu_hour`` for one image at the format's native size.

        Seconds: ``budget.gpu_seconds_per_image``, else :data:`~.flux2_options.GPU_SECONDS_PER_IMAGE` of the
        variant at 1024² scaled by output area and steps; unknown (``usd=None``) without seconds or a price.

        Raises:
            GeneratorOptionsError: ``options`` do not validate.
        """
        opts = options if isinstance(options, Flux2Options) and options.variant is not None else cls.parse_options(options)
        if budget.gpu_seconds_per_image is not None:
            seconds, source = budget.gpu_seconds_per_image, "budget.gpu_seconds_per_image"
        else:
            base, source = GPU_SECONDS_PER_IMAGE.get(str(opts.variant), (None, "not measured"))
            if base is None:
                return JobCost(None, "unknown", f"FLUX.2 {opts.variant}: seconds per image {source}; set budget.gpu_seconds_per_image")
            w, h = native_size(width, height, opts.target_megapixels, SIZE_MULTIPLE)
            default_steps = VARIANTS[str(opts.variant)].steps
            seconds = base * (w * h / MEGAPIXEL) * ((opts.steps or default_steps) / default_steps)
        usd = gpu_cost(seconds, budget.price_per_gpu_hour)
        if usd is None:
            return JobCost(None, "unknown", f"~{seconds:.2f} GPU-s per image ({source}); set budget.price_per_gpu_hour")
        return JobCost(usd, "gpu-time", f"~{seconds:.2f} GPU-s × ${budget.price_per_gpu_hour:g}/h ({source})")

    @classmethod
    def price(cls, generated: GeneratedImage, budget: BudgetSpec) -> JobCost:
        """The image's measured GPU-seconds (denoise + decode) × ``budget.price_per_gpu_hour``; unknown without a price."""
        if generated.cost is not None:
            return super().price(generated, budget)
        usd = gpu_cost(generated.seconds, budget.price_per_gpu_hour)
        if usd is None:
            return JobCost(None, "unknown", "set budget.price_per_gpu_hour to price GPU time")
        return JobCost(round(usd, 6), "gpu-time", f"{generated.seconds:.2f} GPU-s × ${budget.price_per_gpu_hour:g}/h")

    def native_size(self, width: int, height: int) -> tuple[int, int]:
        """The size rendered for a ``width × height`` format: multiples of 16, ≈ ``target_megapixels``, nearest aspect.

        Returns:
            ``(w, h)`` in pixels; see :func:`~.flux2_options.native_size`.
        """
        return native_size(width, height, self.options.target_megapixels, SIZE_MULTIPLE)

    def generate(self, job: Job, out_path: Path) -> GeneratedImage:
        """Render one job (a batch of one) and write an RGB PNG at the native size to ``out_path``.

        Raises:
            See :meth:`generate_batch`.
        """
        return self.generate_batch([job], [out_path])[0]

    def generate_batch(self, jobs: Sequence[Job], out_paths: Sequence[Path]) -> list[GeneratedImage]:
        """Render jobs that share a native size, batching those with the same reference images.

        Each image uses its own ``torch.Generator('cpu').manual_seed(job.seed)``, so it is the same image
        (to within 1/255 per channel) as when rendered alone. Jobs are grouped by their ordered reference
        images (the pipeline conditions a whole call on one reference set) and sent ``batch_size`` at a time.

        Args:
            jobs: the jobs; every ``job.format`` must map to the same :meth:`native_size`.
            out_paths: one output path per job (PNG, written atomically; folders created).

        Returns:
            One :class:`GeneratedImage` per job, in order: ``(h, w, 3)`` uint8 sRGB PNG at the native size,
            its sha256, and ``seconds`` = the call's wall time divided by its batch size.

        Raises:
            ValueError: lengths differ, or jobs of different native sizes.
            MissingDependencyError: torch/diffusers (or a quantisation library) missing — ``pip install 'brandflow[flux2]'``.
            DeviceUnavailableError: ``device`` is CUDA and no such device is visible.
            WeightsNotFoundError: the weights are not on this machine.
            GenerationOutOfMemoryError: out of CUDA memory, also in the next lighter memory mode.
            ImageError: a reference image is unreadable or too small.
        """
        if len(jobs) != len(out_paths):
            raise ValueError(f"generate_batch got {len(jobs)} jobs but {len(out_paths)} output paths")
        if not jobs:
            return []
        sizes = {self.native_size(j.format.width, j.format.height) for j in jobs}
        if len(sizes) != 1:
            raise ValueError(f"generate_batch needs jobs of one native size, got {sorted(sizes)}: group jobs by format aspect first")
        width, height = sizes.pop()
        torch, _ = require_torch_stack()
        self._check_device(torch)

        groups: dict[tuple[str, ...], list[int]] = {}
        refs: dict[tuple[str, ...], list[ReferenceImage]] = {}
        for i, job in enumerate(jobs):
            chosen = order_references(job.references, int(self.options.max_references or 0))
            key = tuple(f"{r.sha256}:{r.path}" for r in chosen)
            groups.setdefault(key, []).append(i)
            refs[key] = chosen
        results: list[GeneratedImage | None] = [None] * len(jobs)
        step = self.options.batch_size
        for key, idxs in groups.items():
            images = [load_reference_image(str(r.path), r.sha256, int(self.options.reference_megapixels * MEGAPIXEL)) for r in refs[key]]
            for start in range(0, len(idxs), step):
                chunk = idxs[start : start + step]
                t0 = time.perf_counter()
                pixels = self._render([jobs[i] for i in chunk], images, width, height, torch)
                seconds = (time.perf_counter() - t0) / len(chunk)
                for i, arr in zip(chunk, pixels):
                    # a work file (compose re-encodes the creative): fast zlib; compose reads these pixels in memory
                    _data, sha = write_work_png(out_paths[i], Image.fromarray(arr, "RGB"))
                    results[i] = GeneratedImage(
                        path=Path(out_paths[i]), width=width, height=height, sha256=sha, seconds=round(seconds, 4)
                    )
        return [r for r in results if r is not None]

    # ----------------------------------------------------------------- internals
    def _check_device(self, torch: Any) -> None:
        device = self.options.device
        if not device.startswith("cuda"):
            return
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU-only build")
            raise DeviceUnavailableError(
                f"generator.options.device is {device!r} but no CUDA device is visible to this process ({build}). "
                f"The {self.name} backend needs an NVIDIA GPU: run this campaign with generator.backend: compositor "
                "(CPU, no weights), a remote generation backend, or on a GPU worker (docs/gpu.md). "
                "device: cpu exists for tests with tiny models only"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"generator.options.device is {device!r} but this process sees {torch.cuda.device_count()} CUDA device(s) "
                "(check CUDA_VISIBLE_DEVICES). Fix: use cuda:0 … cuda:N-1"
            )

    def _call_pipeline(self, pipe: Any, **kwargs: Any) -> Any:
        """``pipe(**kwargs)``: the single place the diffusion pipeline runs (tests replace it to simulate OOM)."""
        return pipe(**kwargs)

    def _warn_if_truncated(self, pipe: Any, jobs: Sequence[Job], prompts: Sequence[str]) -> None:
        limit = self.options.max_sequence_length
        for job, prompt in zip(jobs, prompts):
            n = count_prompt_tokens(pipe, prompt)
            if n > limit:
                overhead = count_prompt_tokens(pipe, "")
                msg = (
                    f"{job.job_id}: the structured prompt makes {n} tokens ({overhead} of them the pipeline's chat template) "
                    f"but FLUX.2 {self.options.variant} reads max_sequence_length = {limit}: the last {n - limit} are cut. "
                    "Shorten the prompt template's text fields"
                )
                log.warning(msg)
                warnings.warn(PromptTruncatedWarning(msg), stacklevel=3)

    def _denoise(self, pipe: Any, jobs: Sequence[Job], prompts: list[str], images: list[Image.Image], width: int, height: int, torch: Any) -> list[np.ndarray]:
        kwargs: dict[str, Any] = {
            "prompt": prompts,
            "image": images or None,
            "height": height,
            "width": width,
            "num_inference_steps": self.options.steps,
            "guidance_scale": self.options.guidance,
            # One CPU generator per image: the noise of image i depends on job i's seed only, and is the
            # same on any device (diffusers draws CPU-generator noise on the CPU, then moves it).
            "generator": [torch.Generator("cpu").manual_seed(j.seed) for j in jobs],
            "max_sequence_length": self.options.max_sequence_length,
            "output_type": "np",
        }
        if self.options.text_encoder_out_layers:
            kwargs["text_encoder_out_layers"] = self.options.text_encoder_out_layers
        out = self._call_pipeline(pipe, **kwargs)
        batch = np.asarray(out.images)  # (B, H, W, 3) float32 in [0, 1]
        return [np.clip(np.round(im * 255.0), 0, 255).astype(np.uint8) for im in batch]

    def _render(self, jobs: Sequence[Job], images: list[Image.Image], width: int, height: int, torch: Any) -> list[np.ndarray]:
        prompts = [j.prompt.to_json() for j in jobs]
        ids = ", ".join(j.job_id for j in jobs)
        with gpu_slot(self.options.device):
            pipe = get_pipeline(self.options, self.memory_mode)
            self._warn_if_truncated(pipe, jobs, prompts)
            tried = self.memory_mode
            try:
                return self._denoise(pipe, jobs, prompts, images, width, height, torch)
            except torch.cuda.OutOfMemoryError as e:
                # Keep only the text: the exception's traceback holds the activations that filled the GPU,
                # so the retry happens after this block, once they are garbage.
                first = str(e).splitlines()[0][:300] if str(e) else "CUDA out of memory"
            del pipe
            lighter = lighter_memory_mode(tried)
            _free_memory()
            if lighter is None:
                raise GenerationOutOfMemoryError(
                    f"{ids}: out of CUDA memory in memory_mode {tried}, the lightest there is ({first}). {self._oom_fixes(len(jobs))}"
                )
            log.warning("%s: out of CUDA memory in memory_mode %s; retrying once in %s (kept for later jobs)", ids, tried, lighter)
            self.memory_mode = lighter
            release_resident()
            pipe = get_pipeline(self.options, lighter)
            try:
                return self._denoise(pipe, jobs, prompts, images, width, height, torch)
            except torch.cuda.OutOfMemoryError as e:
                second = str(e).splitlines()[0][:300] if str(e) else "CUDA out of memory"
            del pipe
            _free_memory()
            raise GenerationOutOfMemoryError(
                f"{ids}: out of CUDA memory in memory_mode {tried} ({first}), and again in {lighter} ({second}). "
                f"{self._oom_fixes(len(jobs))}"
            )

    def _oom_fixes(self, batch: int) -> str:
        o = self.options
        fixes = [f"a smaller target_megapixels (now {o.target_megapixels})", f"fewer references (max_references, now {o.max_references})"]
        if batch > 1:
            fixes.insert(0, f"batch_size 1 (now {o.batch_size})")
        if o.quantization == "none":
            fixes.append("quantization: bitsandbytes")
        if o.variant != "klein-4b":
            fixes.append("variant klein-4b")
        return "Fix: try " + ", ".join(fixes) + " (docs/gpu.md lists the VRAM each memory mode needs)"


class Flux2KleinGenerator(Flux2Generator):
    """FLUX.2 [klein] 4B / 9B through diffusers' ``Flux2KleinPipeline`` (backend ``flux2-klein``).

    Same interface and options as :class:`Flux2Generator`; defaults: variant ``klein-4b``, 4 steps,
    guidance 1.0, at most 4 references.
    """

    name = "flux2-klein"
