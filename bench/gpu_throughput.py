"""Benchmark: FLUX.2 generation throughput on one NVIDIA GPU, without downloading any weights.

What it measures (unattended, time-boxed to --budget seconds, 540 by default, so it ends within 10 minutes
on an H100/H200 — later measurements are skipped, and marked so, when the budget runs out):

1. **Memory-mode matrix** — for the klein-4B, klein-9B and dev transformers built at their real size from
   their configs with random weights (speed does not depend on weight values; configs from diffusers'
   ``scripts/convert_flux2_to_diffusers.py``) plus the real-size FLUX.2 VAE: seconds per 1024×1024 image,
   images per minute and peak VRAM (``torch.cuda.max_memory_allocated``) in each memory mode
   (none, model_cpu_offload, group_offload, sequential_cpu_offload), and with ``torch.compile``
   (regional, memory mode none). The text encoder is stubbed by random prompt embeddings of the real shape
   (1 × 512 × joint_attention_dim): these are denoising + VAE-decode numbers; the real text encoder adds
   one forward pass per prompt. Steps: 4 for klein (its default), ``--dev-steps`` (4) for dev — dev's
   default is 50, so its per-step time is printed too.
2. **Orchestrated flow vs bare diffusers loop** — a klein-4B-sized pipeline (real transformer and VAE, a
   3-layer text encoder of the real width, saved once to --workdir) runs the example campaign through
   ``campaign_flow`` (QA: format check only, since random weights draw noise), then the same prompts,
   reference images and seeds through a plain ``pipe(...)`` loop, at each of ``--flow-batch-sizes`` (1, 2, 4:
   4 products × 4 variants, so a product's variants can share a call) on both sides.

Usage::

    python bench/gpu_throughput.py                  # on a GPU machine: writes bench/results/gpu_throughput.{md,json}
    python bench/gpu_throughput.py --dry-run        # anywhere: tiny configs on the CPU, checks the code path only

Without a CUDA device (and without --dry-run) it prints "no CUDA device", measures nothing and exits 2.
Numbers go in the README; nothing here asserts a target. Anchor (third-party, for context only): klein-4B,
4 steps, 1024², about 0.57 s per image on an H100; the compute floor for 4 steps of a 4B transformer over
~4.6k tokens is about 0.2 s at H100 bf16 peak.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
EXAMPLE = ROOT / "examples" / "saleor"
MODES = ("none", "model_cpu_offload", "group_offload", "sequential_cpu_offload")
TEXT_TOKENS = 512

# Real transformer configs: diffusers scripts/convert_flux2_to_diffusers.py, get_flux2_transformer_config().
_COMMON: dict[str, Any] = {"patch_size": 1, "in_channels": 128, "attention_head_dim": 128, "timestep_guidance_channels": 256,
                           "mlp_ratio": 3.0, "axes_dims_rope": (32, 32, 32, 32), "rope_theta": 2000, "eps": 1e-6}
REAL_CONFIGS: dict[str, dict[str, Any]] = {
    "klein-4b": {**_COMMON, "num_layers": 5, "num_single_layers": 20, "num_attention_heads": 24, "joint_attention_dim": 7680, "guidance_embeds": False},
    "klein-9b": {**_COMMON, "num_layers": 8, "num_single_layers": 24, "num_attention_heads": 32, "joint_attention_dim": 12288, "guidance_embeds": False},
    "dev": {**_COMMON, "num_layers": 8, "num_single_layers": 48, "num_attention_heads": 48, "joint_attention_dim": 15360, "guidance_embeds": True},
}


class Budget:
    """Wall-clock budget: ``left()`` seconds remain; ``allows(s)`` whether ``s`` more seconds fit."""

    def __init__(self, seconds: float):
        self.t0, self.seconds = time.perf_counter(), seconds

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.t0)

    def allows(self, seconds: float) -> bool:
        return self.left() > seconds


@contextlib.contextmanager
def default_dtype(torch: Any, dtype: Any):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def free(torch: Any) -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- 1. memory-mode matrix
def build_pipeline(variant: str, dry: bool, device: str, dtype: Any, torch: Any) -> Any:
    """A text-encoder-less FLUX.2 pipeline with random weights, built directly on ``device`` in ``dtype``."""
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline, Flux2Pipeline, Flux2Transformer2DModel

    from brandflow.generators.flux2_tiny import TINY_TRANSFORMER_CONFIG, TINY_VAE_CONFIG

    if dry:
        cfg = {**TINY_TRANSFORMER_CONFIG, "guidance_embeds": variant == "dev"}
        vae_cfg: dict[str, Any] = TINY_VAE_CONFIG
    else:
        cfg, vae_cfg = REAL_CONFIGS[variant], {}  # AutoencoderKLFlux2() defaults are the real FLUX.2 VAE
    with torch.device(device), default_dtype(torch, dtype):
        transformer = Flux2Transformer2DModel(**cfg).eval()
        vae = AutoencoderKLFlux2(**vae_cfg).eval()
    kwargs = {"scheduler": FlowMatchEulerDiscreteScheduler(), "vae": vae, "text_encoder": None, "tokenizer": None, "transformer": transformer}
    if variant == "dev":
        pipe = Flux2Pipeline(**kwargs)
    else:
        pipe = Flux2KleinPipeline(**kwargs, is_distilled=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def apply_mode(pipe: Any, mode: str, device: str, torch: Any) -> None:
    """The same placement the brandflow backend uses (brandflow.generators.flux2.apply_memory_mode)."""
    from brandflow.generators.flux2 import apply_memory_mode

    apply_memory_mode(pipe, mode, device, torch)


def timed_runs(pipe: Any, variant: str, size: int, steps: int, device: str, dtype: Any, torch: Any, repeats: int, budget: Budget) -> dict[str, Any]:
    """One warm-up call, then up to ``repeats`` timed calls that fit in the budget; seconds per image and peak VRAM."""
    joint = pipe.transformer.config.joint_attention_dim
    embeds = torch.randn(1, TEXT_TOKENS, joint, generator=torch.Generator("cpu").manual_seed(0)).to(device=device, dtype=dtype)
    kwargs = {"prompt": None, "prompt_embeds": embeds, "height": size, "width": size, "num_inference_steps": steps,
              "guidance_scale": 4.0 if variant == "dev" else 1.0, "output_type": "pt"}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(0))
    sync(torch, device)
    warm = time.perf_counter() - t0
    times: list[float] = []
    for i in range(repeats):
        if times and not budget.allows(warm * 1.2 + 30):
            break
        t0 = time.perf_counter()
        pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(i + 1))
        sync(torch, device)
        times.append(time.perf_counter() - t0)
    per_image = sorted(times)[len(times) // 2] if times else warm
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return {"seconds_per_image": per_image, "images_per_minute": 60.0 / per_image, "peak_vram_gib": peak,
            "warmup_seconds": warm, "timed_runs": len(times), "seconds_per_step": per_image / steps}


def param_count(pipe: Any) -> int:
    return sum(p.numel() for p in pipe.transformer.parameters())


def enough_host_ram(pipe_params: int, dtype_bytes: int) -> tuple[bool, str]:
    import psutil

    need = pipe_params * dtype_bytes * 1.3
    have = psutil.virtual_memory().available
    return have > need, f"needs ~{need / 2**30:.0f} GiB free host RAM, {have / 2**30:.0f} GiB available"


def matrix(args: argparse.Namespace, device: str, dtype: Any, torch: Any, budget: Budget) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    size = 256 if args.dry_run else 1024
    dtype_bytes = torch.tensor([], dtype=dtype).element_size()
    for variant in args.variants:
        steps = args.dev_steps if variant == "dev" else 4
        base = {"variant": variant, "size": f"{size}x{size}", "steps": steps}
        if not budget.allows(60):
            rows.append({**base, "mode": "all", "compile": False, "status": "skipped: time budget"})
            continue
        try:
            t0 = time.perf_counter()
            pipe = build_pipeline(variant, args.dry_run, device, dtype, torch)
            params = param_count(pipe)
            base["transformer_params"] = params
            base["build_seconds"] = round(time.perf_counter() - t0, 1)
        except Exception as e:  # noqa: BLE001 — e.g. OOM building dev on a smaller GPU: record and go on
            rows.append({**base, "mode": "all", "compile": False, "status": f"error building: {type(e).__name__}: {e}"[:300]})
            free(torch)
            continue
        for mode in args.modes:
            for compiled in ([False, True] if mode == "none" and args.compile else [False]):
                row = {**base, "mode": mode, "compile": compiled}
                rows.append(row)
                if not budget.allows(150 if compiled else 45 if mode == "none" else 90):
                    row["status"] = "skipped: time budget"
                    continue
                if mode == "sequential_cpu_offload" and device == "cpu":
                    row["status"] = "n/a on cpu (accelerate cannot offload cpu→cpu)"
                    continue
                if compiled and device == "cpu":
                    row["status"] = "not run on cpu (--dry-run checks the code path, not the compiler)"
                    continue
                try:
                    if mode != "none":
                        ok, why = enough_host_ram(params, dtype_bytes)
                        if not ok:
                            row["status"] = f"skipped: {why}"
                            continue
                        # a fresh copy of the weights in host RAM for every offload mode (hooks of one mode
                        # cannot be cleanly removed before the next)
                        del pipe
                        free(torch)
                        pipe = build_pipeline(variant, args.dry_run, device, dtype, torch)
                        pipe.to("cpu")
                        free(torch)
                    apply_mode(pipe, mode, device, torch)
                    if compiled:
                        t0 = time.perf_counter()
                        pipe.transformer.compile_repeated_blocks(fullgraph=True)
                        row["compile_note"] = "regional compile; warm-up includes compilation"
                    row.update(timed_runs(pipe, variant, size, steps, device, dtype, torch, args.repeats, budget))
                    row["status"] = "ok"
                except torch.cuda.OutOfMemoryError as e:
                    row["status"] = f"CUDA out of memory ({str(e).splitlines()[0][:120]})"
                except Exception as e:  # noqa: BLE001 — one failing cell must not lose the table
                    row["status"] = f"error: {type(e).__name__}: {e}"[:300]
                    traceback.print_exc()
                finally:
                    free(torch)
        del pipe
        free(torch)
    return rows


# --------------------------------------------------------------------------- 2. flow vs bare loop
def save_flow_pipeline(folder: Path, dry: bool, device: str, dtype: Any, torch: Any) -> tuple[Path, list[int]]:
    """A klein-4B-sized pipeline with a shallow text encoder (or the tiny one in a dry run), saved to ``folder``."""
    from brandflow.generators.flux2_tiny import TINY_OUT_LAYERS, save_tiny_pipeline, tiny_tokenizer

    if dry:
        return save_tiny_pipeline("klein", folder), list(TINY_OUT_LAYERS)
    from transformers import Qwen3Config, Qwen3ForCausalLM

    pipe = build_pipeline("klein-4b", False, device, dtype, torch)
    tokenizer = tiny_tokenizer("klein")
    # Qwen3-4B's width (2560) so prompt embeddings have the real shape (3 × 2560 = 7680), but 3 layers, not 36.
    config = Qwen3Config(hidden_size=2560, intermediate_size=2560, num_hidden_layers=3, num_attention_heads=20, num_key_value_heads=4,
                         head_dim=128, vocab_size=len(tokenizer), max_position_embeddings=1024, pad_token_id=0)
    with torch.device(device), default_dtype(torch, dtype):
        text_encoder = Qwen3ForCausalLM(config).eval()
    from diffusers import Flux2KleinPipeline

    full = Flux2KleinPipeline(scheduler=pipe.scheduler, vae=pipe.vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              transformer=pipe.transformer, is_distilled=True)
    full.save_pretrained(folder)
    del pipe, full, text_encoder
    free(torch)
    return folder, [1, 2, 3]


def _campaign(folder: Path, options: dict[str, Any], variants: int) -> Path:
    """The example campaign with one 1080² format, the flux2-klein backend with ``options``, QA = format check."""
    import yaml

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for item in EXAMPLE.iterdir():  # feed, brand kit, logo, licence, images …: everything but the campaign and runs
        if item.name not in ("campaign.yaml", "runs"):
            (folder / item.name).symlink_to(item) if item.is_dir() else shutil.copy(item, folder / item.name)
    spec = yaml.safe_load((EXAMPLE / "campaign.yaml").read_text())
    spec.update(formats=[{"name": "square", "width": 1080, "height": 1080, "file_type": "png"}], variants=variants,
                generator={"backend": "flux2-klein", "options": options}, qa={"checks": ["format"], "max_attempts": 1})
    (folder / "campaign.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder / "campaign.yaml"


def bare_loop(jobs: list[Any], gen: Any, pipe: Any, layers: list[int], batch: int, out: Path, device: str, torch: Any) -> float:
    """The same prompts, references and seeds as the flow's jobs, straight into the resident pipeline, ``batch``
    images per call (jobs with the same references only, as the backend batches); seconds, device synced."""
    from brandflow.generators import flux2

    width, height = gen.native_size(1080, 1080)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, ...], list[Any]] = {}
    for job in jobs:
        groups.setdefault(tuple(r.sha256 for r in job.references), []).append(job)
    t0 = time.perf_counter()
    n = 0
    for group in groups.values():
        for i in range(0, len(group), batch):
            chunk = group[i : i + batch]
            refs = flux2.order_references(chunk[0].references, int(gen.options.max_references or 0))
            images = [flux2.load_reference_image(str(r.path), r.sha256, int(gen.options.reference_megapixels * 2**20)) for r in refs]
            kwargs: dict[str, Any] = {"prompt": [j.prompt.to_json() for j in chunk], "image": images or None, "height": height,
                                      "width": width, "num_inference_steps": gen.options.steps, "guidance_scale": gen.options.guidance,
                                      "generator": [torch.Generator("cpu").manual_seed(j.final.seed) for j in chunk],
                                      "text_encoder_out_layers": tuple(layers)}
            for im in pipe(**kwargs).images:
                im.save(out / f"{n}.png")
                n += 1
    sync(torch, device)
    return time.perf_counter() - t0


def flow_vs_bare(args: argparse.Namespace, device: str, dtype: Any, torch: Any, budget: Budget) -> dict[str, Any]:
    """For each batch size: the example campaign through ``campaign_flow`` (generate → compose → format QA →
    publish, Prefect included), then the same prompts, references and seeds through a bare ``pipe(...)`` loop
    with the same batch size. The pipeline is loaded once and stays resident for both."""
    from brandflow.generators import flux2

    out: dict[str, Any] = {"products": args.flow_products, "variants": args.flow_variants, "runs": []}
    if not budget.allows(120 if not args.dry_run else 5):
        return {**out, "status": "skipped: time budget"}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="brandflow-gpu-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if not args.dry_run and shutil.disk_usage(workdir).free < 12 * 2**30:
            return {**out, "status": f"skipped: {workdir} has < 12 GiB free for the saved pipeline"}
        t0 = time.perf_counter()
        model, layers = save_flow_pipeline(workdir / "klein-4b-random", args.dry_run, device, dtype, torch)
        out["save_seconds"] = round(time.perf_counter() - t0, 1)
        options: dict[str, Any] = {"model": str(model), "device": device, "dtype": str(dtype).removeprefix("torch."), "text_encoder_out_layers": layers}
        if args.dry_run:
            options.update(steps=2, target_megapixels=0.02, reference_megapixels=0.01)  # >= 64 px a side for a 1:2 packshot
        gen = flux2.Flux2KleinGenerator({**options, "batch_size": 1})
        t0 = time.perf_counter()
        pipe = flux2.get_pipeline(gen.options, gen.memory_mode)  # resident: every flow run below reuses it
        out["load_seconds"] = round(time.perf_counter() - t0, 1)

        from brandflow.flows.campaign import campaign_flow
        from brandflow.manifest import RunManifest

        width, height = gen.native_size(1080, 1080)
        out.update(size=f"{width}x{height}", steps=gen.options.steps)
        per_image = None
        for batch in args.flow_batch_sizes:
            images = args.flow_products * args.flow_variants
            if per_image is not None and not budget.allows(2.5 * images * per_image + 10):
                out["runs"].append({"batch_size": batch, "status": "skipped: time budget"})
                continue
            campaign = _campaign(workdir / f"campaign-b{batch}", {**options, "batch_size": batch}, args.flow_variants)
            t0 = time.perf_counter()
            result = campaign_flow(str(campaign), str(workdir / f"run-b{batch}"), limit=args.flow_products)
            flow_wall = time.perf_counter() - t0
            manifest = RunManifest.read(result.manifest)
            done = [j for j in manifest.jobs if j.final.creative is not None]
            bare = bare_loop(done, gen, pipe, layers, batch, workdir / f"bare-b{batch}", device, torch)
            n = max(1, len(done))
            per_image = bare / n
            out["runs"].append({
                "batch_size": batch, "images": len(done), "flow_wall_seconds": flow_wall, "flow_in_flow_seconds": result.summary.seconds,
                "bare_seconds": bare, "flow_images_per_minute": 60 * n / result.summary.seconds, "bare_images_per_minute": 60 * n / max(bare, 1e-9),
                "errors": [j.final.error for j in manifest.jobs if j.final.error][:3],
                "status": "ok" if len(done) == len(manifest.jobs) and done else "error: the flow made no image" if not done else "some jobs failed",
            })
        out["flow_loads"] = flux2.load_count()
        out["status"] = "ok" if any(r.get("status") == "ok" for r in out["runs"]) else "error: no flow run completed"
        return out
    finally:
        flux2.release_resident()
        if not args.keep_workdir and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- report
def environment(torch: Any, device: str) -> dict[str, Any]:
    import diffusers
    import transformers

    env = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "host": platform.node(), "python": platform.python_version(),
           "torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__, "device": device,
           "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return env


def params(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1e9:.2f} B" if n >= 1e8 else f"{n / 1e6:.3f} M"


def fmt(v: Any, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def markdown(env: dict[str, Any], rows: list[dict[str, Any]], flow: dict[str, Any] | None, dry: bool, elapsed: float) -> str:
    lines = ["# FLUX.2 GPU throughput (bench/gpu_throughput.py)", ""]
    if dry:
        lines += ["**DRY RUN** — tiny random configs on the CPU. These numbers say nothing about GPU speed; they only show the code path ran.", ""]
    lines += [", ".join(f"{k}: {v}" for k, v in env.items()) + f"; total {elapsed:.0f} s", "",
              ("Random weights; text encoder stubbed (random 1×512×joint_dim embeddings); VAE decode included; "
               "seconds/image = median of the timed runs after one warm-up; peak VRAM = torch.cuda.max_memory_allocated."), "",
              "| variant | transformer params | size | steps | memory mode | compile | s/image | s/step | images/min | peak VRAM (GiB) | runs | status |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {params(r.get('transformer_params'))} | {r['size']} | {r['steps']} | {r['mode']} | {'yes' if r['compile'] else 'no'} "
            f"| {fmt(r.get('seconds_per_image'), '.3f')} | {fmt(r.get('seconds_per_step'), '.3f')} | {fmt(r.get('images_per_minute'), '.1f')} "
            f"| {fmt(r.get('peak_vram_gib'), '.1f')} | {r.get('timed_runs', '—')} | {r.get('status', '')} |"
        )
    if flow is not None:
        lines += ["", "## Orchestrated flow vs bare diffusers loop (klein-4B size, memory mode none)", "",
                  f"{flow.get('products', '?')} products × {flow.get('variants', '?')} variants (same references per product, so batchable); "
                  f"{flow.get('size', '?')} px, {flow.get('steps', '?')} steps. The flow also composes, checks the format and publishes "
                  "each image and runs Prefect; the bare loop only generates and saves, with the same batch size, prompts and seeds.", ""]
        if flow.get("status") != "ok":
            lines.append(f"{flow.get('status')}")
        if flow.get("runs"):
            lines += ["| batch size | images | flow s (in-flow) | flow s (wall, incl. Prefect start-up) | bare loop s | flow images/min | bare images/min | flow/bare | status |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for r in flow["runs"]:
                if "images" not in r:
                    lines.append(f"| {r['batch_size']} | — | — | — | — | — | — | — | {r['status']} |")
                    continue
                lines.append(f"| {r['batch_size']} | {r['images']} | {r['flow_in_flow_seconds']:.2f} | {r['flow_wall_seconds']:.2f} | {r['bare_seconds']:.2f} "
                             f"| {r['flow_images_per_minute']:.1f} | {r['bare_images_per_minute']:.1f} | {r['flow_in_flow_seconds'] / max(r['bare_seconds'], 1e-9):.2f}× | {r['status']} |")
            lines += ["", f"Pipeline loads in the process: {flow.get('flow_loads')} (load {flow.get('load_seconds')} s, save {flow.get('save_seconds')} s, not timed above)."]
    lines += ["", ("Context, not measured here: klein-4B, 4 steps, 1024², ~0.57 s/image on an H100 (third-party figure); "
                   "compute floor ~0.2 s for 4 steps of a 4B transformer over ~4.6k tokens at H100 bf16 peak.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="tiny configs on the CPU: exercise the code path, measure nothing meaningful")
    ap.add_argument("--out", type=Path, default=None, help="report path (.md; a .json is written beside it). Default: "
                    "bench/results/gpu_throughput.md, or a temp folder for --dry-run")
    ap.add_argument("--variants", default="klein-4b,klein-9b,dev", help="comma-separated: klein-4b, klein-9b, dev")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated memory modes")
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip the torch.compile rows")
    ap.add_argument("--no-flow", dest="flow", action="store_false", help="skip the flow-vs-bare-loop comparison")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per cell after the warm-up (fewer if the budget is short)")
    ap.add_argument("--dev-steps", type=int, default=4, help="steps for dev (its default is 50; per-step time is reported)")
    ap.add_argument("--flow-products", type=int, default=4, help="products in the flow comparison (one 1080² format)")
    ap.add_argument("--flow-variants", type=int, default=4, help="variants per product in the flow comparison (batchable: same references)")
    ap.add_argument("--flow-batch-sizes", default="1,2,4", help="generator batch sizes, comma-separated: flow and bare loop alike")
    ap.add_argument("--budget", type=float, default=540.0, help="seconds for everything; cells that no longer fit are skipped")
    ap.add_argument("--workdir", default=None, help="folder for the saved flow pipeline (~8 GB) and runs; default: a temp folder, removed")
    ap.add_argument("--keep-workdir", action="store_true")
    args = ap.parse_args(argv)
    args.variants = [v for v in args.variants.split(",") if v]
    args.modes = [m for m in args.modes.split(",") if m]
    args.flow_batch_sizes = [int(b) for b in args.flow_batch_sizes.split(",") if b.strip()]
    bad = [v for v in args.variants if v not in REAL_CONFIGS] + [m for m in args.modes if m not in MODES]
    if bad:
        ap.error(f"unknown variant/mode: {bad}")

    try:
        import torch
    except ImportError:
        print("gpu_throughput: torch is not installed: pip install 'brandflow[flux2]'. Nothing was measured.", file=sys.stderr)
        return 2
    if args.dry_run:
        device, dtype = "cpu", torch.float32
        args.flow_products = min(args.flow_products, 2)
        args.repeats = min(args.repeats, 1)
    else:
        if not torch.cuda.is_available():
            print(f"gpu_throughput: no CUDA device (torch {torch.__version__} sees none). This benchmark measures GPU "
                  "throughput and needs an NVIDIA GPU; nothing was measured and no numbers were written. "
                  "Run with --dry-run to check the code path on the CPU.", file=sys.stderr)
            return 2
        device, dtype = "cuda", torch.bfloat16
    out = args.out or (Path(tempfile.mkdtemp(prefix="gpu-bench-dry-")) / "gpu_throughput.md" if args.dry_run else ROOT / "bench" / "results" / "gpu_throughput.md")

    budget = Budget(args.budget)
    t0 = time.perf_counter()
    env = environment(torch, device)
    # keep ~240 s of the budget for the flow comparison, which runs last (save + load the pipeline, 3 batch sizes)
    reserve = 240.0 if args.flow and not args.dry_run else 0.0
    rows = matrix(args, device, dtype, torch, Budget(max(0.0, args.budget - reserve)))
    flow = None
    if args.flow:
        try:
            flow = flow_vs_bare(args, device, dtype, torch, budget)
        except Exception as e:  # noqa: BLE001 — report it, keep the matrix
            traceback.print_exc()
            flow = {"status": f"error: {type(e).__name__}: {e}"[:400]}
    elapsed = time.perf_counter() - t0
    report = markdown(env, rows, flow, args.dry_run, elapsed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    out.with_suffix(".json").write_text(json.dumps({"environment": env, "matrix": rows, "flow": flow, "dry_run": args.dry_run,
                                                     "seconds": elapsed}, indent=1, default=str))
    print(report)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    failed = [r for r in rows if str(r.get("status", "")).startswith("error")] + ([flow] if flow and str(flow.get("status", "")).startswith("error") else [])
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    os.environ["BRANDFLOW_CACHE_DIR"] = "off"  # every run reads its packshots, as a first campaign does
    # unattended: a busy machine can take longer than Prefect's default 20 s to start its ephemeral server
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    sys.exit(main())
