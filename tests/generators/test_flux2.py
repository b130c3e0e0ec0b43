"""The flux2 / flux2-klein backends on CPU, with tiny random-weight pipelines loaded through the real loading code."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from brandflow.errors import MissingDependencyError
from brandflow.generators import flux2, gpu
from brandflow.generators.base import get_generator
from brandflow.generators.flux2 import (
    DeviceUnavailableError,
    Flux2Generator,
    Flux2KleinGenerator,
    GenerationOutOfMemoryError,
    PromptTruncatedWarning,
    WeightsNotFoundError,
)
from brandflow.generators.flux2_options import GeneratorOptionsError, lighter_memory_mode, native_size, parse_options


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return np.asarray(im).copy()


class CallSpy:
    """Records the keyword arguments of every pipeline call, then runs the real call."""

    def __init__(self, monkeypatch):
        self.calls: list[dict] = []
        real = Flux2Generator._call_pipeline

        def spy(gen, pipe, **kwargs):
            self.calls.append(kwargs)
            return real(gen, pipe, **kwargs)

        monkeypatch.setattr(Flux2Generator, "_call_pipeline", spy)


# --------------------------------------------------------------------------- options
def test_variant_defaults():
    klein = parse_options("flux2-klein", {})
    assert (klein.variant, klein.model, klein.steps, klein.guidance, klein.max_references) == (
        "klein-4b", "black-forest-labs/FLUX.2-klein-4B", 4, 1.0, 4,
    )
    assert (klein.dtype, klein.max_sequence_length, klein.memory_mode, klein.device) == ("bfloat16", 512, "none", "cuda")
    dev = parse_options("flux2", {})
    assert (dev.variant, dev.model, dev.steps, dev.guidance, dev.max_references) == ("dev", "black-forest-labs/FLUX.2-dev", 50, 4.0, 6)
    nine = parse_options("flux2-klein", {"variant": "klein-9b", "steps": 8})
    assert (nine.model, nine.steps, nine.guidance) == ("black-forest-labs/FLUX.2-klein-9B", 8, 1.0)


@pytest.mark.parametrize(
    ("backend", "options", "names"),
    [
        ("flux2-klein", {"stepz": 4}, ["generator.options.stepz", "steps"]),
        ("flux2-klein", {"steps": 0}, ["generator.options.steps", "greater than or equal to 1"]),
        ("flux2-klein", {"memory_mode": "lots"}, ["generator.options.memory_mode", "group_offload"]),
        ("flux2-klein", {"dtype": "fp8"}, ["generator.options.dtype", "bfloat16"]),
        ("flux2-klein", {"device": "gpu"}, ["generator.options.device", "cuda:N"]),
        ("flux2-klein", {"quantization": "gguf"}, ["generator.options.quantization", "bitsandbytes"]),
        ("flux2-klein", {"max_sequence_length": 1024}, ["generator.options.max_sequence_length", "512"]),
        ("flux2-klein", {"max_references": 5}, ["generator.options.max_references", "4"]),
        ("flux2", {"max_references": 7}, ["generator.options.max_references", "6"]),
        ("flux2-klein", {"variant": "dev"}, ["generator.options.variant", "backend: flux2"]),
        ("flux2", {"variant": "klein-4b"}, ["generator.options.variant", "flux2-klein"]),
    ],
)
def test_bad_options_name_the_field(backend, options, names):
    cls = Flux2KleinGenerator if backend == "flux2-klein" else Flux2Generator
    with pytest.raises(GeneratorOptionsError) as err:
        cls(options)
    for name in names:
        assert name in str(err.value)


def test_memory_modes_get_lighter():
    assert lighter_memory_mode("none") == "model_cpu_offload"
    assert lighter_memory_mode("model_cpu_offload") == "group_offload"
    assert lighter_memory_mode("group_offload") == "sequential_cpu_offload"
    assert lighter_memory_mode("sequential_cpu_offload") is None


# --------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("fmt", [(1080, 1080), (1080, 1920), (1080, 1350), (1920, 1080), (1200, 628), (300, 250), (64, 8000)])
@pytest.mark.parametrize("mp", [1.0, 0.5, 2.0, 0.02])
def test_native_size_is_multiple_of_16_near_aspect_and_area(fmt, mp):
    w, h = native_size(*fmt, target_megapixels=mp)
    assert w % 16 == 0 and h % 16 == 0 and w >= 16 and h >= 16
    if min(w, h) >= 256:  # at tiny sizes one 16-px step is a large fraction of a side
        assert abs((w / h) / (fmt[0] / fmt[1]) - 1) < 0.02
        assert abs(w * h / (mp * 1024 * 1024) - 1) < 0.15


def test_native_size_known_values():
    assert native_size(1080, 1080) == (1024, 1024)
    assert native_size(1080, 1920) == (768, 1360)
    assert native_size(1080, 1350) == (896, 1120)  # exactly 4:5
    assert Flux2KleinGenerator({"target_megapixels": 0.25}).native_size(1080, 1080) == (512, 512)


# --------------------------------------------------------------------------- generation (tiny klein)
def test_klein_generates_deterministically_from_references(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch):
    spy = CallSpy(monkeypatch)
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir))
    before = flux2.load_count()

    a = gen.generate(make_job(seed=7), tmp_path / "a.png")
    b = gen.generate(make_job(seed=7), tmp_path / "b.png")
    c = gen.generate(make_job(seed=8), tmp_path / "c.png")

    assert (a.width, a.height) == gen.native_size(1080, 1080) == (144, 144)
    assert pixels(a.path).shape == (144, 144, 3)
    assert a.sha256 == b.sha256 and np.array_equal(pixels(a.path), pixels(b.path)), "same seed → same pixels"
    assert not np.array_equal(pixels(a.path), pixels(c.path)), "another seed → other pixels"
    assert flux2.load_count() - before == 1

    call = spy.calls[0]
    assert call["prompt"] == [make_job(seed=7).prompt.to_json()] and "\n" not in call["prompt"][0] and ": " not in call["prompt"][0]
    assert (call["height"], call["width"], call["num_inference_steps"], call["guidance_scale"]) == (144, 144, 2, 1.0)
    assert len(call["image"]) == 3 and all(im.size == (64, 64) and im.mode == "RGB" for im in call["image"])
    assert call["max_sequence_length"] == 512 and call["text_encoder_out_layers"] == (1,)


def test_references_primary_first_and_truncated(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch):
    from brandflow.records import sha256_file

    spy = CallSpy(monkeypatch)
    p1, p2, p3 = (make_job().references[i].path for i in range(3))
    job = make_job(references=[p2, p3, p1], roles=["alternate_view", "alternate_view", "primary_packshot"])
    Flux2KleinGenerator(tiny_options(tiny_klein_dir, max_references=2)).generate(job, tmp_path / "out.png")

    sent = [np.asarray(im) for im in spy.calls[0]["image"]]
    expected = [np.asarray(flux2.load_reference_image(str(p), sha256_file(p), int(0.004 * 1024 * 1024))) for p in (p1, p2)]
    assert len(sent) == 2, "truncated to max_references"
    assert all(np.array_equal(s, e) for s, e in zip(sent, expected)), "primary packshot first, then feed order"
    assert not np.array_equal(sent[0], sent[1])


def test_no_references_is_text_to_image(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch):
    spy = CallSpy(monkeypatch)
    out = Flux2KleinGenerator(tiny_options(tiny_klein_dir, max_references=0)).generate(make_job(), tmp_path / "t2i.png")
    assert spy.calls[0]["image"] is None and out.path.is_file()


def test_batch_reproduces_each_image_alone(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch):
    spy = CallSpy(monkeypatch)
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir, batch_size=3))
    jobs = [make_job(seed=s, variant=i) for i, s in enumerate((11, 12, 13))]
    batch = gen.generate_batch(jobs, [tmp_path / f"batch-{i}.png" for i in range(3)])
    assert len(spy.calls) == 1 and len(spy.calls[0]["prompt"]) == 3 and len(spy.calls[0]["generator"]) == 3

    for i, job in enumerate(jobs):
        alone = gen.generate(job, tmp_path / f"alone-{i}.png")
        diff = np.abs(pixels(alone.path).astype(int) - pixels(batch[i].path).astype(int))
        assert diff.max() <= 1, "each image of a batch reproduces alone (batched kernels may round 1/255 differently)"
        assert diff.mean() < 0.01
    assert not np.array_equal(pixels(batch[0].path), pixels(batch[1].path))


def test_batch_groups_by_references_and_refuses_mixed_sizes(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch):
    spy = CallSpy(monkeypatch)
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir, batch_size=4))
    p1 = make_job().references[0].path
    jobs = [make_job(seed=1), make_job(seed=2, references=[p1]), make_job(seed=3)]
    out = gen.generate_batch(jobs, [tmp_path / f"{i}.png" for i in range(3)])
    assert [len(c["prompt"]) for c in spy.calls] == [2, 1], "one call per reference set"
    assert [o.path.name for o in out] == ["0.png", "1.png", "2.png"]

    with pytest.raises(ValueError, match="one native size"):
        gen.generate_batch([make_job(size=(1080, 1080)), make_job(size=(1080, 1920))], [tmp_path / "x.png", tmp_path / "y.png"])


def test_story_format_renders_at_native_aspect(tiny_klein_dir, tiny_options, make_job, tmp_path):
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir))
    out = gen.generate(make_job(size=(1080, 1920)), tmp_path / "story.png")
    assert (out.width, out.height) == gen.native_size(1080, 1920) == (112, 192)
    assert pixels(out.path).shape == (192, 112, 3)


# --------------------------------------------------------------------------- generation (tiny dev)
def test_dev_pipeline_generates_with_guidance(tiny_dev_dir, tiny_options, make_job, tmp_path, monkeypatch):
    spy = CallSpy(monkeypatch)
    gen = Flux2Generator(tiny_options(tiny_dev_dir))
    a = gen.generate(make_job(seed=3, backend="flux2"), tmp_path / "a.png")
    b = gen.generate(make_job(seed=3, backend="flux2"), tmp_path / "b.png")
    assert a.sha256 == b.sha256 and (a.width, a.height) == (144, 144)
    assert spy.calls[0]["guidance_scale"] == 4.0 and len(spy.calls[0]["image"]) == 3


def test_folder_of_another_variant_is_refused(tiny_dev_dir, tiny_options, make_job, tmp_path):
    with pytest.raises(GeneratorOptionsError, match="generator.options.variant.*Flux2KleinPipeline.*Flux2Pipeline"):
        Flux2KleinGenerator(tiny_options(tiny_dev_dir)).generate(make_job(), tmp_path / "x.png")


# --------------------------------------------------------------------------- prompt truncation
def test_truncation_warning(tiny_klein_dir, tiny_options, make_job, tmp_path):
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PromptTruncatedWarning)
        gen.generate(make_job(), tmp_path / "short.png")  # a normal prompt: no warning

    long_scene = " ".join(["white canvas plimsolls on a soft studio background with brand colour light"] * 60)
    with pytest.warns(PromptTruncatedWarning, match=r"white-plimsolls/f1080x1080/v0: the structured prompt makes \d+ tokens .* reads max_sequence_length = 512"):
        out = gen.generate(make_job(scene=long_scene), tmp_path / "long.png")
    assert out.path.is_file(), "a truncated prompt still generates"

    short = Flux2KleinGenerator(tiny_options(tiny_klein_dir, max_sequence_length=32))
    with pytest.warns(PromptTruncatedWarning, match="max_sequence_length = 32"):
        short.generate(make_job(), tmp_path / "short32.png")


# --------------------------------------------------------------------------- resident model
def test_one_resident_pipeline_for_many_jobs(tiny_klein_dir, tiny_options, make_job, tmp_path):
    before = flux2.load_count()
    options = tiny_options(tiny_klein_dir)
    for i in range(6):
        # get_generator is what the generate stage calls for every job
        get_generator("flux2-klein", options).generate(make_job(seed=i), tmp_path / f"{i}.png")
    # a second instance with other per-call options (steps) shares the same resident model
    Flux2KleinGenerator({**options, "steps": 1}).generate(make_job(seed=99), tmp_path / "other.png")
    assert flux2.load_count() - before == 1
    assert flux2.resident_key().memory_mode == "none"

    Flux2KleinGenerator({**options, "memory_mode": "model_cpu_offload"}).generate(make_job(), tmp_path / "offload.png")
    assert flux2.load_count() - before == 2, "another memory mode replaces the resident pipeline"
    assert flux2.resident_key().memory_mode == "model_cpu_offload"


@pytest.mark.parametrize("mode", ["model_cpu_offload", "group_offload", "sequential_cpu_offload"])
def test_memory_modes_load_and_generate(mode, tiny_klein_dir, tiny_options, make_job, tmp_path):
    baseline = Flux2KleinGenerator(tiny_options(tiny_klein_dir)).generate(make_job(seed=5), tmp_path / "none.png")
    out = Flux2KleinGenerator(tiny_options(tiny_klein_dir, memory_mode=mode)).generate(make_job(seed=5), tmp_path / f"{mode}.png")
    assert np.abs(pixels(out.path).astype(int) - pixels(baseline.path).astype(int)).max() <= 1


# --------------------------------------------------------------------------- out of memory
def _oom_n_times(monkeypatch, n: int) -> list[str]:
    """Make the first ``n`` pipeline calls raise torch.cuda.OutOfMemoryError; returns the memory mode of every call."""
    modes: list[str] = []
    real = Flux2Generator._call_pipeline

    def flaky(gen, pipe, **kwargs):
        modes.append(flux2.resident_key().memory_mode)
        if len(modes) <= n:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        return real(gen, pipe, **kwargs)

    monkeypatch.setattr(Flux2Generator, "_call_pipeline", flaky)
    return modes


def test_oom_retries_once_in_the_next_lighter_mode(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch, caplog):
    modes = _oom_n_times(monkeypatch, 1)
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir))
    out = gen.generate(make_job(), tmp_path / "ok.png")
    assert out.path.is_file()
    assert modes == ["none", "model_cpu_offload"]
    assert gen.memory_mode == "model_cpu_offload" and flux2.resident_key().memory_mode == "model_cpu_offload"
    assert "retrying once in model_cpu_offload" in caplog.text

    gen.generate(make_job(seed=2), tmp_path / "next.png")
    assert modes[-1] == "model_cpu_offload", "the lighter mode is kept for later jobs"


def test_oom_twice_fails_that_job_clearly(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch):
    _oom_n_times(monkeypatch, 10)
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir, memory_mode="model_cpu_offload"))
    with pytest.raises(GenerationOutOfMemoryError) as err:
        gen.generate(make_job(), tmp_path / "never.png")
    msg = str(err.value)
    assert "white-plimsolls/f1080x1080/v0" in msg and "model_cpu_offload" in msg and "again in group_offload" in msg
    assert "Fix:" in msg and "target_megapixels" in msg and "Tried to allocate" in msg
    assert not (tmp_path / "never.png").exists()


def test_oom_in_the_lightest_mode_fails_at_once(tiny_klein_dir, tiny_options, make_job, tmp_path, monkeypatch):
    modes = _oom_n_times(monkeypatch, 10)
    gen = Flux2KleinGenerator(tiny_options(tiny_klein_dir, memory_mode="sequential_cpu_offload"))
    with pytest.raises(GenerationOutOfMemoryError, match="the lightest there is"):
        gen.generate(make_job(), tmp_path / "never.png")
    assert modes == ["sequential_cpu_offload"]


# --------------------------------------------------------------------------- set-up errors
def test_missing_weights_folder(tmp_path, make_job):
    folder = tmp_path / "models" / "FLUX.2-klein-4B"
    gen = Flux2KleinGenerator({"model": str(folder), "device": "cpu"})
    with pytest.raises(WeightsNotFoundError) as err:
        gen.generate(make_job(), tmp_path / "x.png")
    msg = str(err.value)
    assert str(folder) in msg and f"hf download black-forest-labs/FLUX.2-klein-4B --local-dir {folder}" in msg


def test_folder_without_model_index(tmp_path, make_job):
    (tmp_path / "weights").mkdir()
    with pytest.raises(WeightsNotFoundError, match="no model_index.json"):
        Flux2KleinGenerator({"model": str(tmp_path / "weights"), "device": "cpu"}).generate(make_job(), tmp_path / "x.png")


def test_repo_id_not_in_cache_never_downloads(tmp_path, make_job, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as err:
        Flux2KleinGenerator({"device": "cpu"}).generate(make_job(), tmp_path / "x.png")
    msg = str(err.value)
    assert "'black-forest-labs/FLUX.2-klein-4B'" in msg and "empty-cache" in msg and "local_files_only=True" in msg
    assert "hf download black-forest-labs/FLUX.2-klein-4B --local-dir" in msg and "hf auth login" in msg


def test_missing_torch_gives_the_install_hint(monkeypatch, make_job, tmp_path):
    real = flux2._import

    def no_torch(name):
        if name == "torch":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real(name)

    monkeypatch.setattr(flux2, "_import", no_torch)
    gen = Flux2KleinGenerator({"device": "cpu"})  # options and sizes need no torch
    assert gen.native_size(1080, 1080) == (1024, 1024)
    with pytest.raises(MissingDependencyError, match=r"need torch.*pip install 'brandflow\[flux2\]'.*compositor") as err:
        gen.generate(make_job(), tmp_path / "x.png")
    assert isinstance(err.value, ImportError)


def test_no_cuda_suggests_compositor(monkeypatch, make_job, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match=r"'cuda'.*no CUDA device.*compositor.*remote"):
        Flux2KleinGenerator({}).generate(make_job(), tmp_path / "x.png")


@pytest.mark.parametrize(("quant", "package"), [("bitsandbytes", "bitsandbytes"), ("torchao", "torchao")])
def test_quantization_library_missing(quant, package, monkeypatch, tiny_klein_dir, tiny_options, make_job, tmp_path):
    monkeypatch.setattr(flux2, "_has_module", lambda name: name != package)
    with pytest.raises(MissingDependencyError, match=rf"generator.options.quantization.*pip install '?{package}"):
        Flux2KleinGenerator(tiny_options(tiny_klein_dir, quantization=quant)).generate(make_job(), tmp_path / "x.png")


def test_attention_backend(tiny_klein_dir, tiny_options, make_job, tmp_path):
    with pytest.raises(GeneratorOptionsError, match="generator.options.attention_backend.*'warp'.*native"):
        Flux2KleinGenerator(tiny_options(tiny_klein_dir, attention_backend="warp")).generate(make_job(), tmp_path / "x.png")
    out = Flux2KleinGenerator(tiny_options(tiny_klein_dir, attention_backend="native")).generate(make_job(), tmp_path / "y.png")
    assert out.path.is_file()


def test_compile_uses_regional_compilation(tiny_klein_dir, tiny_options, monkeypatch):
    from diffusers import Flux2Transformer2DModel

    compiled = []
    monkeypatch.setattr(Flux2Transformer2DModel, "compile_repeated_blocks", lambda self, **kw: compiled.append(kw))
    opts = Flux2KleinGenerator(tiny_options(tiny_klein_dir, compile=True)).options
    flux2.load_pipeline(opts, "none")
    assert compiled == [{"fullgraph": True}]


# --------------------------------------------------------------------------- GPU slot
def test_gpu_limit_name_per_machine(monkeypatch):
    monkeypatch.delenv("BRANDFLOW_GPU_LIMIT_PREFIX", raising=False)
    assert gpu.limit_name("cuda:1") == "brandflow-gpu-cuda-1"
    monkeypatch.setenv("BRANDFLOW_GPU_LIMIT_PREFIX", "brandflow-gpu-node-a")
    assert gpu.limit_name("cuda") == "brandflow-gpu-node-a-cuda-0", "two GPU machines on one server get two limits"


def test_gpu_slot_without_server_is_a_process_lock(monkeypatch):
    monkeypatch.setattr(gpu, "_api_url", lambda: None)
    assert gpu.limit_name("cuda") == gpu.limit_name("cuda:0") == "brandflow-gpu-cuda-0"
    assert gpu.limit_name("cuda:1") == "brandflow-gpu-cuda-1"

    inside, overlap = [], []

    def work():
        with gpu.gpu_slot("cuda:0") as how:
            assert how == "local"
            inside.append(1)
            overlap.append(len(inside))
            time.sleep(0.02)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == [1, 1, 1, 1], "one holder at a time per device"
    with gpu.gpu_slot("cuda:0"), gpu.gpu_slot("cuda:1"):
        pass  # different devices do not wait for each other
