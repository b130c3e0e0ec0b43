"""Options of the ``flux2`` / ``flux2-klein`` generator backends, parsed from ``generator.options``.

Everything here is plain pydantic: no torch, no diffusers. A campaign can be validated on a laptop
without the GPU extras (``Flux2Generator.parse_options``), and the defaults of each model variant
live in one table, :data:`VARIANTS`, with the source of every number.

Example (campaign YAML)::

    generator:
      backend: flux2-klein
      options:
        model: /models/FLUX.2-klein-4B     # a local folder, or a repo id already in the HF cache
        variant: klein-4b                  # dev | klein-4b | klein-9b
        memory_mode: model_cpu_offload
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from brandflow.generators.options import GeneratorOptionsError, validate_options


Variant = Literal["dev", "klein-4b", "klein-9b"]
MemoryMode = Literal["none", "model_cpu_offload", "group_offload", "sequential_cpu_offload"]
DType = Literal["bfloat16", "float16", "float32"]
Quantization = Literal["none", "torchao", "bitsandbytes"]

#: Memory modes from most VRAM (fastest) to least VRAM (slowest). On CUDA out-of-memory the backend
#: retries once with the next mode of this list (diffusers' memory guide orders them the same way:
#: model offload < group offload (leaf level, CUDA streams) < sequential offload in VRAM use).
MEMORY_MODES: tuple[str, ...] = ("none", "model_cpu_offload", "group_offload", "sequential_cpu_offload")

#: One "megapixel" for ``target_megapixels`` / ``reference_megapixels``: 2**20 px, so 1.0 is 1024 × 1024,
#: the size FLUX.2 is documented and benchmarked at.
MEGAPIXEL = 1024 * 1024

#: Both FLUX.2 pipelines read at most 512 text tokens (``tokenizer_max_length = 512`` in diffusers'
#: ``pipeline_flux2.py`` and ``pipeline_flux2_klein.py``).
MAX_SEQUENCE_LENGTH = 512

_DEVICE_RE = re.compile(r"^(cuda(:\d+)?|cpu)$")


@dataclass(frozen=True)
class VariantInfo:
    """What brandflow knows about one FLUX.2 model variant, and where each number comes from.

    Attributes:
        name: the ``variant`` option value.
        backend: the generator backend that runs it (``flux2`` or ``flux2-klein``).
        repo_id: the Hugging Face repository of the official weights (diffusers layout).
        pipeline_class: the diffusers pipeline class named in that repository's ``model_index.json``.
        steps: default number of denoising steps.
        guidance: default guidance scale (``guidance_scale``; ignored by step-distilled klein models).
        max_references: the documented reference-image limit.
        transformer_params: size of the diffusion transformer, for messages ("4B").
        license: the weights' licence, SPDX id or ``LicenseRef-…`` (sources below); the licence guard reads it.
        display: the model's name as its makers write it (``FLUX.2 [klein] 4B``).
    """

    name: str
    backend: str
    repo_id: str
    pipeline_class: str
    steps: int
    guidance: float
    max_references: int
    transformer_params: str
    license: str
    display: str = ""

    @property
    def commercial_use(self) -> bool:
        """Whether the weights' licence allows commercial use (only Apache-2.0 here)."""
        return self.license == "Apache-2.0"

    @property
    def license_url(self) -> str:
        """The model card that states the licence (Hugging Face, ``license:`` in its metadata)."""
        return f"https://huggingface.co/{self.repo_id}"


# Sources:
# - steps/guidance, dev: 50 steps, guidance_scale=4 in BFL's "Running the model with diffusers"
#   (github.com/black-forest-labs/flux2, docs/flux2_dev_hf.md; "28 steps can be a good trade-off").
# - steps/guidance, klein (distilled): 4 steps, guidance_scale=1.0 — BFL's flux2 README ("Use Distilled
#   (4-step)") and diffusers' Flux2Klein integration test (num_inference_steps=4, guidance_scale=1.0).
# - max_references: docs.bfl.ai/guides/prompting_editing_overview, "Reference Images per Model":
#   klein 4B and 9B "Up to 4", dev "Recommended max 6".
# - sizes/licenses: BFL flux2 README model overview; the model cards' licence metadata on Hugging Face:
#   black-forest-labs/FLUX.2-dev and FLUX.2-klein-9B: "flux-non-commercial-license" (the FLUX Non-Commercial
#   License v2.1, which covers "the models denoted as FLUX.x [dev]" and models released with its notice: weights for
#   "non-commercial and non-production use"); black-forest-labs/FLUX.2-klein-4B: "apache-2.0".
#: The FLUX Non-Commercial License v2.1 (not on the SPDX list, hence a LicenseRef).
NON_COMMERCIAL = "LicenseRef-FLUX-Non-Commercial-2.1"
VARIANTS: dict[str, VariantInfo] = {
    "dev": VariantInfo("dev", "flux2", "black-forest-labs/FLUX.2-dev", "Flux2Pipeline", 50, 4.0, 6, "32B", NON_COMMERCIAL, "FLUX.2 [dev]"),
    "klein-4b": VariantInfo(
        "klein-4b", "flux2-klein", "black-forest-labs/FLUX.2-klein-4B", "Flux2KleinPipeline", 4, 1.0, 4, "4B", "Apache-2.0", "FLUX.2 [klein] 4B"
    ),
    "klein-9b": VariantInfo(
        "klein-9b", "flux2-klein", "black-forest-labs/FLUX.2-klein-9B", "Flux2KleinPipeline", 4, 1.0, 4, "9B", NON_COMMERCIAL, "FLUX.2 [klein] 9B"
    ),
}

#: Seconds per image of each local FLUX.2 variant at 1024² px (2**20) with its default steps, on one GPU, and the
#: source. ``None``: not measured — estimates then need ``budget.gpu_seconds_per_image``.
GPU_SECONDS_PER_IMAGE: dict[str, tuple[float | None, str]] = {
    "klein-4b": (0.57, "assumed: H100, bf16, 4 steps, 1024² (third-party anchor quoted in bench/gpu_throughput.py)"),
    "klein-9b": (None, "not measured"),
    "dev": (None, "not measured"),
}

#: The variant a backend runs when ``variant`` is not given.
DEFAULT_VARIANT: dict[str, str] = {"flux2": "dev", "flux2-klein": "klein-4b"}


class Flux2Options(BaseModel):
    """``generator.options`` of the ``flux2`` / ``flux2-klein`` backends (unknown keys are errors).

    Fields left ``None`` are filled from the variant's defaults by :func:`parse_options`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(
        default=None,
        description="local folder in diffusers layout (with model_index.json), or a Hugging Face repo id that is "
        "already in the local HF cache; default: the variant's official repo id. Never downloaded at run time.",
    )
    variant: Variant | None = Field(default=None, description="dev | klein-4b | klein-9b; default: the backend's (flux2 → dev, flux2-klein → klein-4b)")
    dtype: DType = Field(default="bfloat16", description="weights and compute dtype; bfloat16 (without it the text encoder loads in float32)")
    steps: int | None = Field(default=None, ge=1, le=200, description="denoising steps; default: the variant's (dev 50, klein 4)")
    guidance: float | None = Field(default=None, ge=0.0, le=30.0, description="guidance_scale; default: the variant's (dev 4.0, klein 1.0)")
    max_sequence_length: int = Field(default=MAX_SEQUENCE_LENGTH, ge=16, le=MAX_SEQUENCE_LENGTH, description="text tokens read; longer prompts are truncated (with a warning)")
    max_references: int | None = Field(default=None, ge=0, description="reference images passed, primary packshot first; default and maximum: the variant's documented limit")
    reference_megapixels: float = Field(default=1.0, gt=0.0, le=1.0, description="each reference is downscaled to at most this area (1.0 = 1024², the pipeline's own cap)")
    target_megapixels: float = Field(default=1.0, gt=0.0, le=4.0, description="output area, 1.0 = 1024² px; the size is the multiple of 16 nearest the format's aspect")
    memory_mode: MemoryMode = Field(default="none", description="none | model_cpu_offload | group_offload | sequential_cpu_offload (least VRAM, slowest)")
    quantization: Quantization = Field(default="none", description="none | torchao (int8 weight-only transformer) | bitsandbytes (4-bit NF4 transformer + text encoder)")
    compile: bool = Field(default=False, description="torch.compile the transformer's repeated blocks (diffusers' regional compilation)")
    attention_backend: str | None = Field(default=None, description="a diffusers attention backend name (e.g. 'flash', '_flash_3', 'sage', 'native'); default: PyTorch SDPA")
    device: str = Field(default="cuda", description="'cuda', 'cuda:N', or 'cpu' (slow; for tests and dry runs)")
    batch_size: int = Field(default=1, ge=1, le=16, description="images per pipeline call in generate_batch (same size and references)")
    text_encoder_out_layers: tuple[int, ...] | None = Field(
        default=None, description="hidden-state layers stacked into the prompt embedding; default: the pipeline's (only tiny test models need this)"
    )

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not _DEVICE_RE.match(v):
            raise ValueError(f"{v!r} is not a device: use 'cuda', 'cuda:N' (N = GPU index) or 'cpu'")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("empty model: give a local folder or a Hugging Face repo id")
        return v

    @field_validator("text_encoder_out_layers")
    @classmethod
    def _layers(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and (not v or any(i < 0 for i in v)):
            raise ValueError("text_encoder_out_layers must be a non-empty list of layer indices ≥ 0")
        return v

    # The fields below are always set after parse_options(); these properties spare callers the Optional.
    @property
    def info(self) -> VariantInfo:
        """The :class:`VariantInfo` of the (resolved) variant."""
        if self.variant is None:
            raise ValueError("variant is not resolved yet: build options with parse_options()")
        return VARIANTS[self.variant]


def parse_options(backend: str, options: Mapping[str, Any]) -> Flux2Options:
    """Validate ``generator.options`` for ``backend`` and fill every default from the variant.

    Args:
        backend: ``'flux2'`` or ``'flux2-klein'`` (decides the default variant and which variants are allowed).
        options: the campaign's ``generator.options`` mapping.

    Returns:
        A frozen :class:`Flux2Options` with ``variant``, ``model``, ``steps``, ``guidance`` and
        ``max_references`` set.

    Raises:
        GeneratorOptionsError: an unknown key, a bad value, a variant of the other backend, or more
            references than the variant's documented limit. The message names ``generator.options.<field>``.
    """
    opts = validate_options(Flux2Options, options, backend, "docs/gpu.md")

    if backend not in DEFAULT_VARIANT:
        raise GeneratorOptionsError(f"backend {backend!r} is not a FLUX.2 backend (expected one of {sorted(DEFAULT_VARIANT)})")
    variant = opts.variant or DEFAULT_VARIANT[backend]
    info = VARIANTS[variant]
    if info.backend != backend:
        raise GeneratorOptionsError(
            f"generator.options.variant: {variant!r} runs on backend {info.backend!r}, not {backend!r}. "
            f"Fix: set generator.backend: {info.backend}, or a variant of {backend!r}: "
            f"{', '.join(v.name for v in VARIANTS.values() if v.backend == backend)}"
        )
    if opts.max_references is not None and opts.max_references > info.max_references:
        raise GeneratorOptionsError(
            f"generator.options.max_references: {opts.max_references} is over the documented limit of FLUX.2 {variant} "
            f"({info.max_references} reference images; docs.bfl.ai, 'Reference Images per Model'). Fix: use at most {info.max_references}"
        )
    return opts.model_copy(
        update={
            "variant": variant,
            "model": opts.model or info.repo_id,
            "steps": opts.steps if opts.steps is not None else info.steps,
            "guidance": opts.guidance if opts.guidance is not None else info.guidance,
            "max_references": opts.max_references if opts.max_references is not None else info.max_references,
        }
    )


def lighter_memory_mode(mode: str) -> str | None:
    """The next memory mode that uses less VRAM than ``mode``, or ``None`` when ``mode`` is the lightest."""
    i = MEMORY_MODES.index(mode)
    return MEMORY_MODES[i + 1] if i + 1 < len(MEMORY_MODES) else None


def native_size(width: int, height: int, target_megapixels: float = 1.0, multiple: int = 16) -> tuple[int, int]:
    """The generation size for a ``width × height`` format: multiples of ``multiple``, area ≈ the target.

    FLUX.2 works on 16 × 16 px latent patches (VAE factor 8 × 2×2 packing), so both sides must be
    multiples of 16. Among such sizes within ±25 % of the target side lengths, this picks the one
    minimising ``|log(aspect error)| + 0.1 · |log(area error)|`` — the aspect first (compose then
    scales without visible distortion and crops at most a few pixels), the area second.

    Args:
        width, height: the format's exact size in pixels (> 0).
        target_megapixels: wanted area in units of 2**20 px (1.0 → 1024 × 1024 for a square format).
        multiple: side granularity in pixels (16 for FLUX.2).

    Returns:
        ``(w, h)`` in pixels, both multiples of ``multiple`` and ≥ ``multiple``. Deterministic.
        Examples at 1.0: 1080×1080 → 1024×1024; 1080×1920 → 768×1360; 1080×1350 → 896×1120.

    Raises:
        ValueError: a non-positive size or target.
    """
    if width <= 0 or height <= 0 or target_megapixels <= 0 or multiple <= 0:
        raise ValueError(f"native_size needs positive sizes, got {width}×{height}, {target_megapixels} MP, multiple {multiple}")
    import math

    aspect, area = width / height, target_megapixels * MEGAPIXEL
    h0 = math.sqrt(area / aspect)
    lo = max(multiple, int(h0 * 0.75) // multiple * multiple)
    hi = max(lo, math.ceil(h0 * 1.25 / multiple) * multiple)
    best: tuple[float, int, int] | None = None
    for h in range(lo, hi + 1, multiple):
        for w in {max(multiple, math.floor(h * aspect / multiple) * multiple), max(multiple, math.ceil(h * aspect / multiple) * multiple)}:
            score = abs(math.log((w / h) / aspect)) + 0.1 * abs(math.log(w * h / area))
            cand = (round(score, 12), w * h, w)
            if best is None or cand < best:
                best, size = cand, (w, h)
    return size
