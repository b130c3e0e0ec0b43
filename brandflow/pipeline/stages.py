"""The per-job stage functions, plain Python, with content-addressed resumption.

The Prefect flow wraps these as tasks; the benchmark calls the very same functions in a plain loop.
Each job owns a work folder named after its content key (prompt, seed, backend, references, size,
overlay, generator options, brand kit): a stage whose record is already there with an intact file
is not redone, so a re-run after a crash redoes only what is missing. We keep this cache in the run
folder rather than in Prefect's result store so that it can never point at a file that is gone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from brandflow.errors import ImageError
from brandflow.imageio import load_rgb_of, write_atomic
from brandflow.licences import check_licence
from brandflow.qa.base import CheckContext, run_checks
from brandflow.qa.moderation import provider_refusal
from brandflow import registry
from brandflow.locales import tesseract_lang
from brandflow.records import (Attempt, Creative, FeedRecord, GeneratedImage, Job, JobRecord, PublishedAsset, QAResult,
                               sha256_file, sha256_file_cached)
from brandflow.spec import BrandKit, CampaignSpec
from brandflow.cachedir import QA_READINGS, shared_folder
from brandflow.compose.overlay import compose
from brandflow.pipeline.budget import BudgetExhaustedError, BudgetHold, BudgetMeter, generation_cost
from brandflow.generators.base import generator_class, get_generator
from brandflow.publishers.base import UnsupportedFileError, labels_for, publish_labelled, publisher_for
from brandflow.publishers.keys import sanitise_segment
from brandflow.publishers.provenance import C2paSigning, mark, marking_reserve
from brandflow.pipeline.plan import file_ext, publish_key
from brandflow.redact import redact
from brandflow.safenames import slug

R = TypeVar("R", bound=BaseModel)
log = logging.getLogger(__name__)


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def work_dir(job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> Path:
    """``run_dir/work/<slug>-<key>``: the job's folder, named by the hash of everything that determines its
    pixels (the brand kit's logo and fonts by their content, :func:`brand_key`; the generator's options as its
    ``pixel_key`` gives them, so FLUX.2 weights by content too); the product id gives only a slugged readable
    prefix (never a path component as it is)."""
    options = generator_class(spec.generator.backend).pixel_key(spec.generator.options)
    key = job.content_key(options, brand_key(brand), spec.overlay.model_dump(mode="json"))
    return run_dir / "work" / f"{slug(job.product_id, 32) or 'job'}-{key[:20]}"  # the id is only a readable prefix


def brand_key(brand: BrandKit) -> dict:
    """The brand kit as it determines pixels and QA: its fields as JSON, with the logo and font files named by their
    sha256 instead of their paths. A new logo saved over the old file makes new creatives (a path would not change);
    a campaign folder moved or mounted elsewhere keeps its keys, so its run resumes (a path would change)."""
    data = brand.model_dump(mode="json")
    data["logo"] = _file_key(brand.logo)
    data["fonts"] = {role: _file_key(getattr(brand.fonts, role)) for role in data["fonts"]}
    return data


def _file_key(path: Path | None) -> str | None:
    # the brand kit was checked when it was loaded: a file gone since is an error to see
    return None if path is None else sha256_file_cached(path)


def _load_cached(record: Path, model: type[R], image_field: str = "path") -> R | None:
    """The stage record at ``record`` if it exists and its image file still has the recorded sha256. The image is
    looked for beside the record first (stage files live in the job's folder), so a run folder that was moved, copied
    or mounted at another path resumes from its own files; the record's path then names that file."""
    if not record.is_file():
        return None
    try:
        obj = model.model_validate_json(record.read_text())
    except ValueError:
        return None
    image = getattr(obj, image_field, None)
    if image is None:
        return obj
    local = record.parent / Path(image).name
    found = local if local.is_file() else Path(image)
    if not found.is_file() or sha256_file(found) != obj.sha256:  # type: ignore[attr-defined]
        return None
    return obj if found == Path(image) else obj.model_copy(update={image_field: found})


def _save(record: Path, obj: BaseModel) -> None:
    write_atomic(record, obj.model_dump_json(indent=1).encode())


def generate_stage(
    job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path, budget: BudgetMeter | None = None
) -> tuple[GeneratedImage, bool]:
    """Render the job's image with the campaign's generator backend (model resident per process).

    With a ``budget``, the job's estimated cost is reserved first and replaced by the actual cost after;
    a reused image costs nothing and needs no reservation.

    Returns:
        ``(generated, cached)``: the RGB PNG at the backend's native size with its ``cost`` (USD, priced by
        pipeline/budget.py when the backend does not report one), and whether it was reused.

    Raises:
        BudgetExhaustedError: generating would exceed ``budget.max_cost`` (nothing is generated).
    """
    folder = work_dir(job, spec, brand, run_dir)
    record = folder / "generated.json"
    if (hit := _load_cached(record, GeneratedImage)) is not None:
        return hit, True
    generator = get_generator(spec.generator.backend, spec.generator.options)
    hold = budget.reserve(job, spec) if budget is not None else None
    try:
        out = generator.generate(job, folder / "generated.png")
    except Exception as e:
        if hold is not None:
            hold.settle(getattr(e, "cost", None) or 0.0)  # bfl errors after submission carry what was charged
        raise
    return _record_generated(out, record, spec, hold), False


def _record_generated(image: GeneratedImage, record: Path, spec: CampaignSpec, hold: BudgetHold | None) -> GeneratedImage:
    """Price a fresh image (pipeline/budget.py), settle its budget hold and save its stage record; the one path
    for single and batched generation, so both cost and resume alike."""
    priced = generation_cost(image, spec.generator.backend, spec.budget)
    image = image.model_copy(update={"cost": priced.usd, "cost_basis": priced.basis})
    if hold is not None:
        hold.settle(priced.usd)
    _save(record, image)
    return image


#: What :func:`generate_batch_stage` hands :func:`run_attempt` per job: ``(generated, cached)``, or the error
#: that job alone met (its budget reservation was refused). A job it has no entry for is generated alone.
Pregenerated = tuple[GeneratedImage, bool] | Exception


def batch_size_of(spec: CampaignSpec) -> int:
    """How many images the campaign's backend renders per call, as its capabilities declare (1: every job
    generated alone)."""
    try:
        generator = get_generator(spec.generator.backend, spec.generator.options)
    except Exception:  # noqa: BLE001 — a backend that cannot be built fails in each job's own task, recorded there
        return 1
    return max(1, int(generator.capabilities.batch_size))


def batch_jobs(jobs: list[Job], spec: CampaignSpec, size: int) -> list[list[Job]]:
    """Split ``jobs`` into batches of at most ``size`` that one pipeline call can render together: the same
    native size in pixels and the same reference images (role and sha256, in order). Order is kept within
    a batch, and batches come in the order of their first job."""
    generator = get_generator(spec.generator.backend, spec.generator.options)
    groups: dict[tuple[object, ...], list[Job]] = {}
    for job in jobs:
        native = generator.native_size(job.format.width, job.format.height)
        groups.setdefault((native, tuple((r.role, r.sha256) for r in job.references)), []).append(job)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def generate_batch_stage(
    jobs: list[Job], spec: CampaignSpec, brand: BrandKit, run_dir: Path, budget: BudgetMeter | None = None
) -> dict[str, Pregenerated]:
    """Render a batch from :func:`batch_jobs` in one call of the backend's ``generate_batch``.

    Each image still lands in its own job's work folder with its own ``generated.json``, priced alone, so
    resumption and costs are exactly those of :func:`generate_stage`; a job already done is reused and
    left out of the call. Every image comes from its job's seed alone (the backend keeps one random
    generator per image), so batching never changes pixels beyond 1/255.

    Returns:
        ``job_id → Pregenerated``. A job whose budget reservation is refused gets its
        :class:`BudgetExhaustedError`. When the call itself fails (e.g. out of memory in every memory mode),
        its jobs are left out, so :func:`run_attempt` retries each alone and records its own error.
    """
    out: dict[str, Pregenerated] = {}
    todo: list[tuple[Job, Path]] = []
    for job in jobs:
        folder = work_dir(job, spec, brand, run_dir)
        if (hit := _load_cached(folder / "generated.json", GeneratedImage)) is not None:
            out[job.job_id] = (hit, True)
        else:
            todo.append((job, folder))
    holds = {}
    for job, _ in todo:
        try:
            holds[job.job_id] = budget.reserve(job, spec) if budget is not None else None
        except BudgetExhaustedError as e:
            out[job.job_id] = e
    todo = [(job, folder) for job, folder in todo if job.job_id in holds]
    if not todo:
        return out
    generator = get_generator(spec.generator.backend, spec.generator.options)
    try:
        images = generator.generate_batch([job for job, _ in todo], [folder / "generated.png" for _, folder in todo])
    except Exception as e:  # noqa: BLE001 — each job is retried alone and records its own error
        log.warning("a batch of %d images failed (%s: %s); generating them one at a time", len(todo), type(e).__name__, e)
        for hold in holds.values():
            if hold is not None:
                hold.settle(getattr(e, "cost", None) or 0.0)
        return out
    for (job, folder), image in zip(todo, images):
        out[job.job_id] = (_record_generated(image, folder / "generated.json", spec, holds[job.job_id]), False)
    return out


def byte_reserve(spec: CampaignSpec) -> int:
    """Bytes compose keeps free under a format's ``max_bytes`` for the provenance marks publication adds."""
    provenance = spec.publish.provenance
    return marking_reserve(provenance.enabled, provenance.c2pa.cert_chain if provenance.c2pa else None)


def _creative_record(generated: GeneratedImage, job: Job, spec: CampaignSpec, folder: Path) -> tuple[Path, int]:
    """The creative's stage record and the bytes its encoding keeps free (a byte-limited format keeps room for marking)."""
    reserve = byte_reserve(spec) if job.format.max_bytes else 0
    return folder / (f"creative-{generated.sha256[:12]}" + (f"-r{reserve}" if reserve else "") + ".json"), reserve


def compose_stage(generated: GeneratedImage, job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> tuple[Creative, bool]:
    """Deliver the exact format size with the overlay text drawn; returns ``(creative, cached)``."""
    folder = work_dir(job, spec, brand, run_dir)
    record, reserve = _creative_record(generated, job, spec, folder)
    if (hit := _load_cached(record, Creative)) is not None:
        return hit, True
    creative = compose(generated, job, brand, spec.overlay, folder / f"creative.{_ext(job)}", byte_reserve=reserve)
    # the generator's own moderation travels with the pixels to QA, and the colours the image was asked for travel
    # with it, so `brandflow qa` on the file measures as the run does
    creative = creative.model_copy(update={"palette": list(job.prompt.color_palette),
                                           **({"moderation": generated.moderation} if generated.moderation is not None else {})})
    _save(record, creative)
    return creative, False


def _qa_record(creative: Creative, spec: CampaignSpec, brand: BrandKit, folder: Path, job: Job) -> Path:
    asked = brand.beyond(job.prompt.color_palette)  # a QA input too; left out when empty: brand-only palettes keep their keys
    return folder / f"qa-{_digest(creative.sha256, spec.qa.model_dump(mode='json'), brand_key(brand), *([asked] if asked else []))[:16]}.json"


def readings_dir(run_dir: Path) -> Path:
    """Where QA keeps its per-source readings (a packshot's lettering, a source's words; JSON named by content
    sha256): the user's shared cache (:func:`brandflow.cachedir.shared_folder`), so another campaign or run folder
    over the same catalogue reads no packshot again, or — cache off or unusable — ``run_dir/work/qa-sources``, so
    at least a resumed run does not."""
    return shared_folder(QA_READINGS) or run_dir / "work" / QA_READINGS  # a job folder's name ends in -<20 hex>: never this


def cached_attempt(job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> Attempt | None:
    """This attempt of ``job`` as an earlier run finished it — generated image, creative and QA result all
    recorded in its work folder with intact files (sha256 checked) — or ``None`` when any stage must still run.
    Reads records and hashes files; decodes and writes nothing."""
    folder = work_dir(job, spec, brand, run_dir)
    generated = _load_cached(folder / "generated.json", GeneratedImage)
    creative = generated and _load_cached(_creative_record(generated, job, spec, folder)[0], Creative)
    qa = creative and _load_cached(_qa_record(creative, spec, brand, folder, job), QAResult, image_field="")
    if qa is None:
        return None
    return Attempt(attempt=job.attempt, seed=job.seed, creative=creative, qa=qa, cached=True, cost=0.0, notes=generated.notes)


def qa_stage(creative: Creative, job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> tuple[QAResult, bool]:
    """Run the campaign's QA checks on one creative; returns ``(result, reused)``: a result recorded by an earlier
    run for the same creative sha256, QA settings, brand kit and prompt colours is reused, not computed again."""
    folder = work_dir(job, spec, brand, run_dir)
    record = _qa_record(creative, spec, brand, folder, job)
    if (hit := _load_cached(record, QAResult, image_field="")) is not None:
        return hit, True
    ctx = CheckContext(
        path=creative.path,
        brand=brand,
        thresholds=spec.qa,
        format=job.format,
        regions=tuple(creative.regions),
        references=tuple(r.path for r in job.references if r.role in ("primary_packshot", "alternate_view")),
        moderation=creative.moderation,
        lang=tesseract_lang(job.locale),
        placed=None if creative.placed is None else tuple(creative.placed),
        palette=tuple(job.prompt.color_palette),
        cache_dir=readings_dir(run_dir),
    )
    result = run_checks(load_rgb_of(creative.path, creative.sha256), ctx, spec.qa.checks)
    _save(record, result)
    return result, False


def publish_stage(creative: Creative, job: Job, qa: QAResult, spec: CampaignSpec, target: str) -> PublishedAsset:
    """Mark one passing creative with its provenance (unless switched off) and publish it to ``target``
    under the campaign's key template (idempotent: the marked file's sha256 decides)."""
    key = publish_key(job, spec)
    metadata = {
        "campaign": spec.slug,
        "product_id": job.product_id,
        "format": job.format.name,
        "variant": str(job.variant),
        "seed": str(job.seed),
        "backend": job.backend,
        "qa_verdict": qa.verdict,
    }
    if job.locale:
        metadata["locale"] = job.locale
    src, sha = creative.path, creative.sha256
    provenance = spec.publish.provenance
    if provenance.enabled:
        c2pa = C2paSigning(**provenance.c2pa.model_dump()) if provenance.c2pa else None
        src, sha = mark(
            creative.path, creative.path.with_name(f"{creative.path.stem}.marked{creative.path.suffix}"),
            campaign=spec.slug, job_id=job.job_id, product_id=job.product_id, backend=job.backend,
            composited=any(job.overlay.values()), model=check_licence(spec), extra={"Seed": str(job.seed)}, c2pa=c2pa,
        )
        metadata["provenance"] = "xmp+c2pa" if c2pa else "xmp"
        size = src.stat().st_size
        if job.format.max_bytes is not None and size > job.format.max_bytes:
            raise ImageError(
                f"{job.job_id}: the marked creative is {size:,} bytes, over the format's max_bytes {job.format.max_bytes:,} "
                f"(the marks took {size - creative.bytes:,} bytes). Fix: raise formats[{job.format.name}].max_bytes, use jpeg "
                "or webp (their quality is lowered to make room), or a shorter certificate chain"
            )
    publisher = publisher_for(target, **spec.publish.options_for(target))
    return publish_labelled(publisher, src, key, sha, metadata, spec.publish.on_conflict, labels_for(job))


def publish_run_record(files: list[Path], spec: CampaignSpec, target: str, run_name: str) -> list[PublishedAsset]:
    """Publish the audit record (``manifest.json``, ``report.html``) beside the creatives, under
    ``<campaign>/_runs/<run_name>/``; a later decision on the same run overwrites them. A target that cannot
    hold such files (a CMS image library) gets none of them: they stay in the run folder, with a warning."""
    publisher = publisher_for(target, **spec.publish.options_for(target))
    folder = f"{spec.slug}/_runs/{sanitise_segment(run_name)}"
    meta = {"campaign": spec.slug, "run": run_name}
    published = []
    for f in files:
        try:
            published.append(publisher.publish(f, f"{folder}/{f.name}", sha256_file(f), meta, "overwrite"))
        except UnsupportedFileError as e:  # a CMS image library holds no JSON or HTML: the record stays in the run folder
            log.warning("%s stays in the run folder only: %s", f.name, e)
    return published


def feed_plugins(spec: CampaignSpec) -> dict[str, object]:
    """The campaign's feed plugins (``publish.feeds``), each built with its options and the campaign's formats.

    Raises:
        UnknownPluginError: no feed plugin of that name is installed.
        BrandflowError: the plugin refuses its options (its message names the field and the fix).
    """
    return {name: registry.load("feed", name)(options, spec.formats) for name, options in spec.publish.feeds.items()}


def publish_feeds(
    records: list[JobRecord], spec: CampaignSpec, target: str, product_ids: list[str], run_dir: Path
) -> list[FeedRecord]:
    """Regenerate every feed of ``publish.feeds`` from the run's published creatives and publish it to ``target``
    (once per run; the target's sha256 rule writes it only when its bytes changed).

    Args:
        records: the run's job records (those with ``published`` are in the feeds).
        spec: the campaign.
        target: the publish target URI.
        product_ids: the ids of the run's product feed (a feed plugin's default set of known products).
        run_dir: the run folder; each feed is written to ``run_dir/feeds/`` before it is published.

    A campaign in several markets (``locales``) gets one feed per market, as Merchant Center keeps one feed per
    language and country: each built from that market's creatives only, its key the plugin's with the locale
    before the extension (``supplemental.tsv`` → ``supplemental.de-DE.tsv``) or in place of ``{locale}``.

    Returns:
        One :class:`FeedRecord` per feed (and market); products a feed left out are in its ``errors`` with the fix.
    """
    publisher = publisher_for(target, **spec.publish.options_for(target))
    out = []
    markets = [m.code if m is not None else None for m in spec.markets]
    split = len(markets) > 1
    for (name, plugin), locale in ((item, loc) for item in feed_plugins(spec).items() for loc in markets):
        own = [r for r in records if r.locale == locale] if split else records
        result = plugin.build(own, spec.slug, plugin.primary_ids(product_ids))  # type: ignore[attr-defined]
        key = market_key(plugin.key(spec.slug), locale, split)  # type: ignore[attr-defined]
        path = run_dir / "feeds" / Path(key).name
        write_atomic(path, result.data)
        try:
            asset = publisher.publish(path, key, sha256_file(path), {"campaign": spec.slug, "feed": name}, "overwrite")
        except UnsupportedFileError as e:  # a CMS image library holds no TSV: the feed stays in the run folder
            asset = None
            result.errors.append(f"the target cannot hold the feed ({e}); it is at {path}. Fix: publish to a folder or "
                                 "bucket that Merchant Center can fetch from")
        for error in result.errors:
            log.warning("%s feed: %s", name, error)
        out.append(FeedRecord(feed=name, locale=locale, key=key, rows=result.rows, errors=result.errors, notes=result.notes,
                              published=asset))
    return out


def market_key(key: str, locale: str | None, split: bool) -> str:
    """A feed's key for one market: ``{locale}`` replaced by the locale (``default`` without one); when the campaign
    has several markets (``split``) and the key names no ``{locale}``, the locale goes before the extension
    (``a/supplemental.tsv`` → ``a/supplemental.de-DE.tsv``)."""
    if "{locale}" in key or not split or locale is None:
        return key.replace("{locale}", locale or "default")
    stem, dot, ext = key.rpartition(".")
    return f"{stem}.{locale}.{ext}" if dot and "/" not in ext else f"{key}.{locale}"


def run_attempt(
    job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path, budget: BudgetMeter | None = None,
    pregenerated: Pregenerated | None = None,
) -> Attempt:
    """One attempt at a job: generate → compose → QA, with per-stage timings in seconds and its cost in USD.

    ``pregenerated`` is this job's entry from :func:`generate_batch_stage` when its image was rendered in a
    batch (its ``generate`` timing is then the batch call's time divided by the batch size).

    Never raises for a bad product: any error becomes ``Attempt.error`` (with the exception type),
    so one broken packshot cannot sink the campaign — a moderated request (``ModerationError: request
    moderated: …``) and a spent budget (``BudgetExhaustedError: budget exhausted: …``) included.
    """
    timings: dict[str, float] = {}
    cost: float | None = 0.0
    try:
        with Timer(timings, "generate"):
            if isinstance(pregenerated, Exception):
                raise pregenerated
            generated, gen_cached = pregenerated or generate_stage(job, spec, brand, run_dir, budget)
        if pregenerated is not None and not gen_cached:
            timings["generate"] = generated.seconds
        cost = 0.0 if gen_cached else generated.cost
        with Timer(timings, "compose"):
            creative, comp_cached = compose_stage(generated, job, spec, brand, run_dir)
        with Timer(timings, "qa"):
            qa, qa_cached = qa_stage(creative, job, spec, brand, run_dir)
    except Exception as e:  # noqa: BLE001 — recorded per job, shown in the report
        spent = cost if "compose" in timings or "qa" in timings else getattr(e, "cost", 0.0)
        if getattr(e, "moderation", None) and "moderation" in spec.qa.checks:
            # the service refused or withheld the image: the moderation check's verdict, so reviewers see one verdict
            # and a withheld image is retried with the next seed like any QA failure
            qa = QAResult.combine([provider_refusal(e.moderation)])  # type: ignore[attr-defined]
            return Attempt(attempt=job.attempt, seed=job.seed, qa=qa, timings=timings, cost=spent)
        return Attempt(attempt=job.attempt, seed=job.seed, error=redact(f"{type(e).__name__}: {e}"), timings=timings, cost=spent,
                       stopped="budget" if isinstance(e, BudgetExhaustedError) else None)
    return Attempt(
        attempt=job.attempt, seed=job.seed, creative=creative, qa=qa, cached=gen_cached and comp_cached and qa_cached, timings=timings, cost=cost,
        notes=generated.notes,
    )


_ext = file_ext


class Timer:
    """Context manager that records elapsed seconds into ``timings[name]``."""

    def __init__(self, timings: dict[str, float], name: str):
        self.timings, self.name = timings, name

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = round(time.perf_counter() - self.t0, 4)
