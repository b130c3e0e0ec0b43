"""Tiny random-weight FLUX.2 pipelines, built offline, for tests and ``bench/gpu_throughput.py --dry-run``.

They have the real classes and the real data path — diffusers' ``Flux2Pipeline`` (Mistral-3 text encoder)
and ``Flux2KleinPipeline`` (Qwen-3 text encoder), ``Flux2Transformer2DModel``, ``AutoencoderKLFlux2`` with
the real 8× VAE factor (so sizes are multiples of 16 exactly as with the real weights) — at a few
thousand parameters, so one image takes milliseconds on a CPU. Their pixels are noise-like: they test
plumbing (loading, sizes, seeds, references, truncation, batching), never quality.

The configurations follow diffusers' own fast tests (``tests/pipelines/flux2/test_pipeline_flux2.py`` and
``test_pipeline_flux2_klein.py``), with two changes that keep them offline: the tokenizer is a ``tokenizers``
WordLevel model wrapped in ``PreTrainedTokenizerFast`` with a chat template (the tests download one from the
Hub), and the VAE has four down blocks (factor 8) instead of one. The dev pipeline's real tokenizer is a
``PixtralProcessor``, which needs torchvision; the tiny one uses a plain fast tokenizer with a chat template
that reads the same message structure, which ``Flux2Pipeline`` accepts unchanged.

Because the text encoders have 2 (klein) / 1 (dev) layers, generation must pass
``text_encoder_out_layers=TINY_OUT_LAYERS`` (the generator option of the same name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

#: Hidden-state layer stacked into the prompt embedding of the tiny text encoders.
TINY_OUT_LAYERS: tuple[int, ...] = (1,)

_SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "[IMG]", "[IMG_BREAK]", "[IMG_END]"]
_WORDS = [
    "user", "assistant", "system", "scene", "subjects", "description", "position", "action", "style", "color_palette", "lighting", "mood",
    "background", "composition", "camera", "angle", "lens", "depth_of_field", "a", "an", "the", "of", "in", "on",
    "with", "and", "product", "studio", "white", "shoe", "plimsolls", "packshot", "brand", "colour", "color", "soft",
    "light", "shadow", "centre", "center", "left", "right", "top", "bottom", "photo",
]
_PUNCT = list('{}[]:,"#.')

# Qwen-style chat template (klein): <|im_start|>role\ncontent<|im_end|> …, then the assistant turn.
_KLEIN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Mistral/Pixtral-style messages (dev): each content is a list of {"type": "text", "text": …} parts.
_DEV_TEMPLATE = (
    "<s>{% for m in messages %}{{ m['role'] }}:{% for c in m['content'] %}{% if c['type'] == 'text' %} {{ c['text'] }}"
    "{% endif %}{% endfor %}\n{% endfor %}"
)


def _tokenizer(template: str) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(_SPECIALS + _WORDS + _PUNCT)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>", chat_template=template
    )


#: Config of the tiny ``AutoencoderKLFlux2``: four down blocks, so the VAE factor is 8 as in the real model.
TINY_VAE_CONFIG: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (4, 4, 4, 4),
    "layers_per_block": 1,
    "latent_channels": 1,
    "norm_num_groups": 1,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}

#: Config of the tiny ``Flux2Transformer2DModel`` (diffusers' fast tests); ``guidance_embeds`` is set per pipeline.
TINY_TRANSFORMER_CONFIG: dict[str, Any] = {
    "patch_size": 1,
    "in_channels": 4,
    "num_layers": 1,
    "num_single_layers": 1,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "joint_attention_dim": 16,
    "timestep_guidance_channels": 256,
    "axes_dims_rope": [4, 4, 4, 4],
}


def tiny_tokenizer(kind: Literal["dev", "klein"]) -> Any:
    """An offline WordLevel fast tokenizer with the chat template shape ``kind``'s pipeline uses (unknown words → ``<unk>``)."""
    return _tokenizer(_DEV_TEMPLATE if kind == "dev" else _KLEIN_TEMPLATE)


def _vae() -> Any:
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(**TINY_VAE_CONFIG).eval()


def _transformer(guidance_embeds: bool) -> Any:
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(**TINY_TRANSFORMER_CONFIG, guidance_embeds=guidance_embeds).eval()


def build_tiny_pipeline(kind: Literal["dev", "klein"], seed: int = 0) -> Any:
    """A tiny random-weight ``Flux2Pipeline`` (``kind='dev'``) or ``Flux2KleinPipeline`` (``'klein'``), float32, CPU.

    Args:
        kind: which pipeline class.
        seed: torch seed for the random weights (same seed → same weights).

    Returns:
        The pipeline, every module in ``.eval()`` mode. Klein is marked ``is_distilled=True`` like klein-4B.

    Raises:
        ImportError: torch, diffusers, transformers or tokenizers is missing.
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline, Flux2Pipeline

    torch.manual_seed(seed)
    if kind == "klein":
        from transformers import Qwen3Config, Qwen3ForCausalLM

        tokenizer = _tokenizer(_KLEIN_TEMPLATE)
        config = Qwen3Config(
            intermediate_size=16, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, head_dim=8,
            vocab_size=len(tokenizer), max_position_embeddings=1024, pad_token_id=0,
        )
        text_encoder = Qwen3ForCausalLM(config).eval()
        return Flux2KleinPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(), vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer,
            transformer=_transformer(guidance_embeds=False), is_distilled=True,
        )
    if kind == "dev":
        from transformers import Mistral3Config, Mistral3ForConditionalGeneration

        tokenizer = _tokenizer(_DEV_TEMPLATE)
        config = Mistral3Config(
            text_config={
                "model_type": "mistral", "vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 37,
                "max_position_embeddings": 2048, "num_attention_heads": 4, "num_hidden_layers": 1, "num_key_value_heads": 2,
                "rms_norm_eps": 1e-5, "rope_theta": 1e9, "sliding_window": None, "bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0,
            },
            vision_config={
                "model_type": "pixtral", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 37,
                "image_size": 30, "patch_size": 6, "num_channels": 3,
            },
            bos_token_id=2, eos_token_id=3, pad_token_id=0, image_seq_length=4, vision_feature_layer=-1,
            image_token_index=_SPECIALS.index("[IMG]"),
        )
        text_encoder = Mistral3ForConditionalGeneration(config).eval()
        return Flux2Pipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(), vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer,
            transformer=_transformer(guidance_embeds=True),
        )
    raise ValueError(f"kind must be 'dev' or 'klein', got {kind!r}")


def save_tiny_pipeline(kind: Literal["dev", "klein"], folder: str | Path, seed: int = 0) -> Path:
    """Build :func:`build_tiny_pipeline` and ``save_pretrained`` it into ``folder`` (diffusers layout, safetensors).

    Returns:
        ``folder`` as a ``Path``; it then holds ``model_index.json`` and one sub-folder per component, so
        ``generator.options.model: <folder>`` loads it through the backend's real loading code.
    """
    folder = Path(folder)
    build_tiny_pipeline(kind, seed).save_pretrained(folder)
    return folder
