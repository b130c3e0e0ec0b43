"""The ``bfl`` backend against a local, protocol-faithful BFL server (bfl_server.py) on 127.0.0.1.

Every test runs the real client (httpx, threads, retries, the in-flight limiter) over real HTTP; only the
server is a stand-in. Poll and back-off intervals are shrunk through the backend's own options.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml
from bfl_server import FakeBFL, _credits
from PIL import Image

from brandflow import registry
from brandflow.errors import BrandflowError
from brandflow.records import GeneratedImage, sha256_file
from brandflow.generators import bfl
from brandflow.generators.base import Generator
from brandflow.generators.bfl import (
    BFLAuthError,
    BFLGenerationError,
    BFLGenerator,
    BFLProtocolError,
    BFLRequestError,
    BFLTimeoutError,
    BFLUnavailableError,
    MissingAPIKeyError,
    ModerationError,
    SampleExpiredError,
)
from brandflow.generators.bfl_options import MEGAPIXEL, GeneratorOptionsError
IMAGES = Path(__file__).resolve().parents[2] / "examples" / "saleor" / "images"
PLIMSOLLS = [IMAGES / f"saleor-white-plimsolls-{i}.png" for i in (1, 2, 3)]  # as conftest.py's make_job uses
KEY = "bfl-test-key-123"
HAS_COST_FIELD = "cost" in GeneratedImage.model_fields  # True once the wiring patch adds GeneratedImage.cost


@pytest.fixture(scope="session")
def bfl_server():
    """One fake BFL server for the whole session, on a free port of 127.0.0.1."""
    server = FakeBFL(KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def bfl_registered():
    """Stopgap until pyproject.toml declares the `bfl` entry point: register it at run time."""
    if "bfl" not in {ep.name for ep in entry_points(group="brandflow.generators")}:
        registry.register("generator", "bfl", BFLGenerator)


@pytest.fixture
def fake(bfl_server, monkeypatch):
    """The server with default knobs and empty counters, the key in BFL_API_KEY, no process-wide limiter yet."""
    bfl_server.reset()
    monkeypatch.setenv("BFL_API_KEY", KEY)
    bfl.reset_limiters()
    yield bfl_server
    bfl.reset_limiters()


@pytest.fixture
def generator(fake):
    """``generator(**options)`` → a BFLGenerator on the fake server with millisecond polls and back-off, small images."""
    made: list[BFLGenerator] = []

    def make(**overrides) -> BFLGenerator:
        opts = {
            "base_url": fake.base_url, "poll_interval": 0.005, "poll_max_interval": 0.02, "retry_base_delay": 0.005,
            "retry_max_delay": 0.02, "timeout": 20.0, "target_megapixels": 0.05, "reference_megapixels": 0.02, **overrides,
        }
        g = BFLGenerator(opts)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


def _b64_image(s: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(s, validate=True)))


# --------------------------------------------------------------------------- the happy path
def test_writes_rgb_png_at_requested_size_with_documented_request_fields(generator, fake, make_job, tmp_path):
    g = generator()
    assert isinstance(g, Generator)
    primary, alt1, alt2 = PLIMSOLLS
    # Feed order puts an alternate view first: the primary packshot must still be input_image.
    job = make_job(seed=987654, size=(1080, 1920), references=[alt1, primary, alt2],
                   roles=["alternate_view", "primary_packshot", "alternate_view"], backend="bfl")
    out = g.generate(job, tmp_path / "gen.png")

    w, h = g.native_size(1080, 1920)
    assert w % 16 == 0 and h % 16 == 0 and abs((w / h) / (1080 / 1920) - 1) < 0.03
    with Image.open(out.path) as im:
        assert (im.format, im.mode, im.size) == ("PNG", "RGB", (w, h))
        assert im.getpixel((0, 0)) == (255, 255, 255), "the result's transparent corner is flattened onto white"
    assert (out.width, out.height) == (w, h) and out.sha256 == sha256_file(out.path) and out.seconds > 0

    [sub] = fake.stats.submissions
    assert sub["model"] == "flux-2-pro" and sub["headers"]["x-key"] == KEY
    body = sub["body"]
    assert (body["seed"], body["width"], body["height"]) == (987654, w, h)
    assert body["output_format"] == "png" and body["safety_tolerance"] == 2
    assert json.loads(body["prompt"]) == job.prompt.model_dump(mode="json") and body["prompt"] == job.prompt.to_json()
    assert sorted(k for k in body if k.startswith("input_image")) == ["input_image", "input_image_2", "input_image_3"]
    max_px = int(0.02 * MEGAPIXEL)
    expected_first = bfl.encode_reference(str(primary), sha256_file(primary), max_px, "jpeg")[0]
    assert body["input_image"] == expected_first, "primary packshot first, whatever the feed order"
    assert body["input_image_2"] == bfl.encode_reference(str(alt1), sha256_file(alt1), max_px, "jpeg")[0]
    for key in ("input_image", "input_image_2", "input_image_3"):
        ref = _b64_image(body[key])
        assert ref.width % 16 == 0 and ref.height % 16 == 0 and ref.width * ref.height <= max_px and ref.format == "JPEG"
    assert not {"steps", "guidance", "prompt_upsampling"} & set(body), "flex-only fields are not sent to [pro]"
    assert fake.stats.sample_fetches == 1 and fake.stats.sample_fetches_with_key == 0, "the API key never goes to the sample URL"


def test_flex_controls_and_jpeg_output_still_give_an_rgb_png(generator, fake, make_job, tmp_path):
    g = generator(model="flux-2-flex", steps=20, guidance=3.5, prompt_upsampling=False, output_format="jpeg", safety_tolerance=4)
    out = g.generate(make_job(backend="bfl"), tmp_path / "gen.png")
    body = fake.stats.submissions[0]["body"]
    assert fake.stats.submissions[0]["model"] == "flux-2-flex"
    assert (body["steps"], body["guidance"], body["prompt_upsampling"], body["output_format"], body["safety_tolerance"]) == (20, 3.5, False, "jpeg", 4)
    with Image.open(out.path) as im:
        assert (im.format, im.mode) == ("PNG", "RGB")


@pytest.mark.parametrize(("model", "sent"), [("flux-2-klein-4b", 4), ("flux-2-klein-9b", 4), ("flux-2-max", 6)])
def test_references_are_capped_at_the_models_limit(generator, fake, make_job, tmp_path, model, sent):
    refs = PLIMSOLLS + PLIMSOLLS  # six references
    g = generator(model=model)
    g.generate(make_job(references=refs, backend="bfl"), tmp_path / "gen.png")
    body = fake.stats.submissions[0]["body"]
    keys = [k for k in body if k.startswith("input_image")]
    assert len(keys) == sent and fake.stats.input_sizes[0] and len(fake.stats.input_sizes[0]) == sent


def test_max_references_over_the_model_limit_is_an_options_error():
    with pytest.raises(GeneratorOptionsError, match=r"generator.options.max_references: 5 is over the limit of flux-2-klein-4b \(4"):
        BFLGenerator({"model": "flux-2-klein-4b", "max_references": 5})


def test_result_of_another_size_is_recorded_as_returned(generator, fake, make_job, tmp_path):
    fake.reset(result_size=(320, 240))
    out = generator().generate(make_job(backend="bfl"), tmp_path / "gen.png")
    assert (out.width, out.height) == (320, 240)
    with Image.open(out.path) as im:
        assert im.size == (320, 240)


# --------------------------------------------------------------------------- retries
def test_429_and_5xx_bursts_are_retried_until_the_image_arrives(generator, fake, make_job, tmp_path):
    fake.reset(submit_429=2, submit_5xx=1, poll_429=1, poll_5xx=2, sample_5xx=1)
    g = generator()
    out = g.generate(make_job(backend="bfl"), tmp_path / "gen.png")
    assert out.path.is_file()
    codes = [c for _, _, c in fake.stats.responses]
    assert codes.count(429) == 3 and codes.count(503) == 1 and codes.count(502) == 2 and codes.count(500) == 1
    assert fake.stats.accepted == 1, "a 429/5xx submission created no task, so exactly one was accepted"
    assert g.history[-1].retries == 7


def test_retry_after_header_is_respected(generator, fake, make_job, tmp_path):
    fake.reset(submit_429=1, retry_after="1")
    g = generator(retry_base_delay=0.001, retry_max_delay=0.001)  # any wait near 1 s can only come from Retry-After
    t0 = time.monotonic()
    g.generate(make_job(backend="bfl"), tmp_path / "gen.png")
    assert time.monotonic() - t0 >= 0.95


def test_persistent_5xx_gives_up_after_max_retries(generator, fake, make_job, tmp_path):
    fake.reset(submit_5xx=100)
    with pytest.raises(BFLUnavailableError, match=r"HTTP 503 on POST /v1/flux-2-pro after 3 tries") as err:
        generator(max_retries=2).generate(make_job(backend="bfl"), tmp_path / "gen.png")
    assert len(fake.stats.submissions) == 3 and fake.stats.accepted == 0
    assert err.value.cost == 0.0 and not (tmp_path / "gen.png").exists()


def test_account_limit_429s_are_absorbed_by_backoff(generator, fake, make_job, tmp_path):
    fake.reset(account_limit=2, processing_seconds=0.03, pending_polls=0)
    g = generator(max_in_flight=6, max_retries=50)
    jobs = [make_job(seed=i, backend="bfl") for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        outs = list(pool.map(lambda ij: g.generate(ij[1], tmp_path / f"{ij[0]}.png"), enumerate(jobs)))
    assert all(o.path.is_file() for o in outs)
    assert fake.stats.peak_in_flight <= 2 and 429 in [c for _, _, c in fake.stats.responses]


# --------------------------------------------------------------------------- outcomes the job must report
@pytest.mark.parametrize(("status", "prefix"), [("Request Moderated", "request moderated: "), ("Content Moderated", "content moderated: ")])
def test_moderation_raises_a_qa_visible_moderation_error(generator, fake, make_job, tmp_path, status, prefix):
    fake.reset(outcome=status, details={"Moderation Reasons": ["Derivative Works"]})
    with pytest.raises(ModerationError) as err:
        generator().generate(make_job(backend="bfl"), tmp_path / "gen.png")
    e = err.value
    assert isinstance(e, BrandflowError) and str(e).startswith(prefix)
    assert "Derivative Works" in str(e) and "white-plimsolls/" in str(e) and e.status == status
    assert e.task_id and e.cost > 0, "the task was submitted (and charged), so the error carries its cost"
    assert not (tmp_path / "gen.png").exists()


def test_error_status_and_lost_tasks_are_generation_errors(generator, fake, make_job, tmp_path):
    fake.reset(outcome="Error", error_text="GPU fell over")
    with pytest.raises(BFLGenerationError, match="ended with status Error .GPU fell over"):
        generator().generate(make_job(backend="bfl"), tmp_path / "a.png")
    fake.reset(status_override="Task not found")
    with pytest.raises(BFLGenerationError, match="Task not found"):
        generator().generate(make_job(backend="bfl"), tmp_path / "b.png")
    assert fake.stats.polls == bfl.NOT_FOUND_GRACE


@pytest.mark.parametrize(("knobs", "code"), [({"sample_expired": True}, 403), ({"sample_ttl": 0.0}, 410)])
def test_expired_sample_url_is_a_clear_error(generator, fake, make_job, tmp_path, knobs, code):
    fake.reset(**knobs)
    if "sample_ttl" in knobs:
        time_to_expire = 0.02
        orig = bfl.BFLGenerator._download

        def late(self, *a, **kw):  # a worker that stalls between "Ready" and the download
            time.sleep(time_to_expire)
            return orig(self, *a, **kw)

        bfl.BFLGenerator._download = late
    try:
        with pytest.raises(SampleExpiredError) as err:
            generator().generate(make_job(backend="bfl"), tmp_path / "gen.png")
    finally:
        if "sample_ttl" in knobs:
            bfl.BFLGenerator._download = orig
    msg = str(err.value)
    assert f"HTTP {code}" in msg and "expires 10 minutes after" in msg and err.value.task_id
    assert fake.stats.sample_fetches == 1, "an expired signed URL is not retried"


def test_job_timeout(generator, fake, make_job, tmp_path):
    fake.reset(processing_seconds=30.0, pending_polls=0)
    t0 = time.monotonic()
    with pytest.raises(BFLTimeoutError, match=r"did not finish within generator.options.timeout = 0.3 s"):
        generator(timeout=0.3).generate(make_job(backend="bfl"), tmp_path / "gen.png")
    assert 0.25 < time.monotonic() - t0 < 2.0


def test_rejected_request_names_the_field(generator, fake, make_job, tmp_path, monkeypatch):
    g = generator()
    monkeypatch.setattr(g, "native_size", lambda w, h: (1000, 1000))  # not multiples of 16: the API refuses it
    with pytest.raises(BFLRequestError, match=r"HTTP 422\): width: width must be a multiple of 16"):
        g.generate(make_job(backend="bfl"), tmp_path / "gen.png")


# --------------------------------------------------------------------------- keys and hosts
def test_missing_api_key_names_the_variable_and_submits_nothing(generator, fake, make_job, tmp_path, monkeypatch):
    monkeypatch.delenv("BFL_API_KEY")
    with pytest.raises(MissingAPIKeyError, match=r"environment variable BFL_API_KEY is empty. Fix: export BFL_API_KEY="):
        generator().generate(make_job(backend="bfl"), tmp_path / "gen.png")
    with pytest.raises(GeneratorOptionsError, match="read from BFL_API_KEY on the worker only"):
        generator(api_key_env="AWS_SECRET_ACCESS_KEY")  # the campaign cannot choose which secret goes to BFL
    assert fake.stats.submissions == []


def test_key_from_a_prefect_secret_block(generator, fake, make_job, tmp_path, monkeypatch):
    monkeypatch.delenv("BFL_API_KEY")
    monkeypatch.setattr(bfl, "_secret_block_value", lambda name: KEY if name == "bfl-prod" else (_ for _ in ()).throw(ValueError("no block")))
    generator(api_key_block="bfl-prod").generate(make_job(backend="bfl"), tmp_path / "gen.png")
    assert fake.stats.submissions[0]["headers"]["x-key"] == KEY
    with pytest.raises(MissingAPIKeyError, match="Prefect Secret block 'nope'"):
        generator(api_key_block="nope").generate(make_job(backend="bfl"), tmp_path / "x.png")


def test_wrong_key_is_an_auth_error(generator, fake, make_job, tmp_path, monkeypatch):
    monkeypatch.setenv("BFL_API_KEY", "wrong")
    with pytest.raises(BFLAuthError, match="HTTP 401.*Invalid API key.*BFL_API_KEY"):
        generator().generate(make_job(backend="bfl"), tmp_path / "gen.png")


def test_key_is_never_sent_to_a_foreign_polling_host(generator, fake, make_job, tmp_path):
    # The client talks to "localhost"; the server hands out polling URLs on "127.0.0.1": another host.
    g = generator(base_url=fake.base_url.replace("127.0.0.1", "localhost"))
    with pytest.raises(BFLProtocolError, match="refusing to send the API key"):
        g.generate(make_job(backend="bfl"), tmp_path / "gen.png")
    assert fake.stats.polls == 0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"api_key": "sk-123"}, r"generator.options.api_key: secrets never go in the campaign YAML.*BFL_API_KEY"),
        ({"model": "flux-2-pro", "steps": 20}, r"generator.options.steps: only FLUX.2 \[flex\] takes steps"),
        ({"base_url": "https://user:pw@api.bfl.ai"}, r"credentials never go in base_url"),
        ({"api_key_env": "sk-abc-123"}, r"not an environment variable name"),
        ({"model": "flux-2-ultra"}, r"generator.options.model: Input should be 'flux-2-pro'"),
        ({"webhook_url": "https://x"}, r"generator.options.webhook_url: unknown key.*Fix: remove it"),
        ({"safety_tolerance": 6}, r"generator.options.safety_tolerance: Input should be less than or equal to 5"),
    ],
)
def test_invalid_options_name_the_field(options, match):
    with pytest.raises(GeneratorOptionsError, match=match):
        BFLGenerator(options)


def test_native_size_is_multiple_of_16_nearest_aspect_and_at_most_4mp():
    g = BFLGenerator({"target_megapixels": 4.0})
    for fw, fh in [(1080, 1080), (1080, 1920), (1080, 1350), (1920, 1080), (1200, 628), (8192, 8192)]:
        w, h = g.native_size(fw, fh)
        assert w % 16 == 0 and h % 16 == 0 and 64 <= min(w, h)
        assert w * h <= 2048 * 2048
        assert abs((w / h) / (fw / fh) - 1) < 0.03, (fw, fh, w, h)
    assert BFLGenerator({}).native_size(1080, 1080) == (1024, 1024)
    g.close()


# --------------------------------------------------------------------------- concurrency
def test_in_flight_limit_is_respected_under_many_threads(generator, fake, make_job, tmp_path):
    fake.reset(processing_seconds=0.05, pending_polls=0)
    g = generator(max_in_flight=4)
    jobs = [make_job(seed=i, backend="bfl") for i in range(24)]
    with ThreadPoolExecutor(24) as pool:
        outs = list(pool.map(lambda ij: g.generate(ij[1], tmp_path / f"{ij[0]}.png"), enumerate(jobs)))
    assert len({o.path for o in outs}) == 24 and fake.stats.accepted == 24
    assert fake.stats.peak_in_flight == 4, "never more than 4 in flight, and the 24 threads did reach 4"
    assert g.limiter.peak == 4


def test_the_limit_is_shared_by_every_generator_of_one_key(generator, fake, make_job, tmp_path):
    fake.reset(processing_seconds=0.04, pending_polls=0)
    a, b = generator(max_in_flight=3), generator(max_in_flight=3, safety_tolerance=3)  # two instances (get_generator keys differ)
    work = [(a if i % 2 else b, make_job(seed=i, backend="bfl"), tmp_path / f"{i}.png") for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda w: w[0].generate(w[1], w[2]), work))
    assert fake.stats.peak_in_flight == 3 and a.limiter is b.limiter


# --------------------------------------------------------------------------- cost
def test_cost_is_the_apis_when_it_sends_one(generator, fake, make_job, tmp_path):
    g = generator()
    out = g.generate(make_job(backend="bfl"), tmp_path / "gen.png")
    w, h = g.native_size(1080, 1080)
    in_px = sum(a * b for a, b in fake.stats.input_sizes[0])
    credits = _credits("flux-2-pro", w * h, in_px)
    task = g.history[-1]
    assert (task.credits, task.cost_basis) == (credits, "bfl-api") and task.cost == pytest.approx(credits * 0.01)
    assert task.output_mp == round(w * h / 1e6, 2) and task.task_id == next(iter(fake.tasks))
    if HAS_COST_FIELD:
        assert out.cost == pytest.approx(credits * 0.01) and out.cost_basis == "bfl-api"


def test_cost_falls_back_to_the_price_table(generator, fake, make_job, tmp_path):
    from brandflow.generators.bfl_options import bfl_credits

    fake.reset(omit_cost=True)
    g = generator(model="flux-2-klein-4b")
    out = g.generate(make_job(backend="bfl"), tmp_path / "gen.png")
    w, h = g.native_size(1080, 1080)
    in_px = [a * b for a, b in fake.stats.input_sizes[0]]
    task = g.history[-1]
    assert task.credits is None and task.cost_basis == "bfl-table"
    assert task.cost == pytest.approx(bfl_credits(g.options, w * h, in_px) * 0.01) and task.cost >= 0.014
    if HAS_COST_FIELD:
        assert out.cost == pytest.approx(task.cost, abs=1e-6) and out.cost_basis == "bfl-table"


# --------------------------------------------------------------------------- through the stage
def _bfl_campaign(campaign_dir: Path, base_url: str) -> Path:
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["formats"] = [{"name": "square", "width": 1080, "height": 1080}]
    spec["variants"] = 1
    spec["qa"] = {"checks": ["format"], "max_attempts": 1}
    spec["generator"] = {"backend": "bfl", "options": {
        "base_url": base_url, "poll_interval": 0.005, "poll_max_interval": 0.02, "retry_base_delay": 0.005,
        "target_megapixels": 0.05, "reference_megapixels": 0.02}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_run_attempt_records_moderation_as_the_attempts_error(fake, campaign_dir, tmp_path):
    from brandflow.spec import load_campaign
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.pipeline.stages import run_attempt

    spec, brand = load_campaign(_bfl_campaign(campaign_dir, fake.base_url))
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, [p for p in products if p.id == "white-plimsolls"])
    ok = run_attempt(jobs[0], spec, brand, tmp_path / "run")
    assert ok.error is None and ok.creative is not None and ok.qa is not None and ok.qa.verdict == "pass"

    fake.reset(outcome="Content Moderated", details={"Moderation Reasons": ["Violence"]})
    moderated = run_attempt(jobs[0].model_copy(update={"seed": jobs[0].seed + 1}), spec, brand, tmp_path / "run")
    assert moderated.creative is None and moderated.error.startswith("ModerationError: content moderated: ")
    assert "Violence" in moderated.error


def test_limiter_slot_waits_and_times_out():
    lim = bfl.InFlightLimiter(1)
    got_it = threading.Event()

    def second() -> None:
        with lim.slot():
            got_it.set()

    with lim.slot():
        with pytest.raises(TimeoutError):
            with lim.slot(timeout=0.01):
                pass
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.05)
        assert not got_it.is_set(), "a second slot waits while the only one is held"
    t.join(1)
    assert got_it.is_set() and lim.peak == 1 and lim.in_flight == 0


# --------------------------------------------------------------------------- budgets through the stages and the flow
def _with_budget(path: Path, **budget) -> Path:
    data = yaml.safe_load(path.read_text())
    data["generator"]["options"]["max_references"] = 1  # every job then sends one 576² packshot: equal prices
    data["budget"] = budget
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_budget_stops_new_generations_and_attempts_record_what_they_cost(fake, campaign_dir, tmp_path):
    from brandflow.spec import load_campaign
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.budget import BudgetMeter, job_estimate
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.pipeline.stages import run_attempt

    path = _bfl_campaign(campaign_dir, fake.base_url)
    spec, brand = load_campaign(_with_budget(path))
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products[:4])
    each = job_estimate(jobs[0], spec).usd
    spec, brand = load_campaign(_with_budget(path, max_cost=round(each * 2.5, 6)))
    meter = BudgetMeter.from_spec(spec)
    run_dir = tmp_path / "run"
    attempts = [run_attempt(j, spec, brand, run_dir, meter) for j in jobs]

    assert [a.error is None for a in attempts] == [True, True, False, False]
    for a in attempts[:2]:
        assert a.cost == pytest.approx(each, abs=1e-5) and a.cost_currency == "USD"  # the fake's cost = BFL's formula, rounded
    for a in attempts[2:]:
        assert a.error.startswith("BudgetExhaustedError: budget exhausted: ") and a.cost == 0.0 and a.creative is None
    assert fake.stats.accepted == 2 and meter.stopped == 2 and meter.spent == pytest.approx(2 * each, abs=1e-5)
    # A reused image costs nothing and is not stopped by a spent budget.
    again = run_attempt(jobs[0], spec, brand, run_dir, meter)
    assert again.error is None and again.cost == 0.0 and fake.stats.accepted == 2


def test_flow_manifest_and_report_carry_costs_and_the_budget_stop(prefect_harness, fake, campaign_dir, tmp_path):
    from brandflow.flows.campaign import campaign_flow
    from brandflow.manifest import RunManifest
    from brandflow.spec import load_campaign
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.budget import job_estimate
    from brandflow.pipeline.plan import plan_jobs

    path = _with_budget(_bfl_campaign(campaign_dir, fake.base_url))
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products[:3])
    each = job_estimate(jobs[0], spec).usd
    _with_budget(path, max_cost=round(each * 2.5, 6))
    result = campaign_flow(str(path), str(tmp_path / "run"), only=[p.id for p in products[:3]])
    s = result.summary
    assert (s.jobs, s.budget_stopped, s.errors) == (3, 1, 1) and s.cost == pytest.approx(2 * each, abs=1e-5) and s.cost_unknown == 0
    manifest = RunManifest.read(result.manifest)
    stopped = [j for j in manifest.jobs if j.status == "error"]
    assert len(stopped) == 1 and stopped[0].final.error.startswith("BudgetExhaustedError: budget exhausted")
    assert sorted(j.cost for j in manifest.jobs) == [0.0, pytest.approx(each, abs=1e-5), pytest.approx(each, abs=1e-5)]
    report = result.report.read_text()
    assert "budget exhausted" in report and "stopped: budget exhausted" in report
