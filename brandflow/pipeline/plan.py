"""Planning: product × format × variant × market → jobs, each with its seed, structured prompt and overlay text."""

from __future__ import annotations

import hashlib
from pathlib import Path

from brandflow.errors import TemplateError
from brandflow.feed.markets import currency_note, markets_of
from brandflow.locales import ocr_note
from brandflow.records import Job, Product, ReferenceImage, Rejection, sha256_file
from brandflow.spec import BrandKit, CampaignSpec, SeedPolicy
from brandflow.prompts.render import render_overlay, render_prompt
from brandflow.publishers.keys import render_key

SEED_MAX = 2**31 - 1  # seeds must fit a torch.Generator and numpy's SeedSequence alike


def derive_seed(policy: SeedPolicy, product_id: str, format_name: str, variant: int, attempt: int = 1, index: int = 0) -> int:
    """The seed of one attempt of one job, in ``[0, 2**31 - 1)``.

    ``derived``: sha256 of ``(base, product, format, variant, attempt)`` — stable when products are
    added, removed or reordered. ``sequential``: ``base + index`` (the job's position in the plan);
    each further attempt adds 100 003 (see :func:`next_attempt`).
    """
    if policy.strategy == "sequential":
        return (policy.base + index + (attempt - 1) * 100_003) % SEED_MAX
    digest = hashlib.sha256(f"{policy.base}/{product_id}/{format_name}/{variant}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_MAX


def references_for(product: Product) -> list[ReferenceImage]:
    """The product's packshots as reference images: the feed's ``image_link`` first (primary packshot)."""
    return [
        ReferenceImage(path=p, role="primary_packshot" if i == 0 else "alternate_view", sha256=sha256_file(p))
        for i, p in enumerate(product.images)
    ]


def file_ext(job: Job) -> str:
    """The creative's file extension: ``png``, ``jpg`` or ``webp``."""
    return {"jpeg": "jpg"}.get(job.format.file_type, job.format.file_type)


def publish_key(job: Job, spec: CampaignSpec) -> str:
    """The job's key under the publish target, from ``publish.key_template`` (injective in each value).

    Raises:
        ValueError: the template is unsafe (see :func:`brandflow.spec.check_key_template`).
    """
    return render_key(
        spec.publish.key_template, campaign=spec.slug, product_id=job.product_id, format=job.format.name,
        variant=f"v{job.variant}", ext=file_ext(job), seed=job.seed, job=job.job_id, locale=job.locale or "default",
    )


def plan_jobs(spec: CampaignSpec, brand: BrandKit, products: list[Product]) -> tuple[list[Job], list[Rejection]]:
    """Every job of the campaign — product × format × variant × market (``locales``), market by market, each in
    feed order — and the rejections: a product whose template fails, or that a market's own feed lacks
    (:func:`~brandflow.feed.markets.markets_of`), is rejected for that market only.

    Each job carries its market's notes: strings that fell back to the campaign's, a price in a currency the market's
    country does not use (CLDR territory currencies), and how OCR QA reads the market's language when its Tesseract
    pack is missing (:func:`~brandflow.locales.ocr_note`).
    Every market of a product gets the same seeds (the same picture; the words, prices and script change). One
    product's broken template or overlay text never sinks the campaign. A product one of whose publish keys is
    already taken by an earlier job (a key template without ``{format}``, ids that only differ where the template
    joins them…) is rejected too, naming both: it is never published over the other one.

    Raises:
        SpecError: a market's own feed cannot be read (see :func:`~brandflow.feed.catalog.read_feed_rows`).
    """
    jobs: list[Job] = []
    rejections: list[Rejection] = []
    owners: dict[str, Product] = {}
    for market in markets_of(spec, products):
        local = spec.model_copy(update={"locale": market.locale, "strings": market.strings}) if market.locale else spec
        rejections.extend(market.rejections)
        ocr = ocr_note(market.locale) if "text" in spec.qa.checks else None
        notes = [*market.notes, *([ocr] if ocr else [])]
        for product in market.products:
            currency = currency_note(market, product)
            planned, rejection = _plan_product(local, brand, product, len(jobs), notes + ([currency] if currency else []))
            if rejection is None:
                keys = {publish_key(job, spec): job for job in planned}
                taken = next((k for k in keys if k in owners), None)
                if taken is not None:
                    first = owners[taken]
                    rejection = Rejection(
                        source=str(spec.feed.path), row=product.row, product_id=product.id, field="publish.key_template",
                        locale=market.locale,
                        reason=f"its publish key {taken!r} is already the key of product {first.id!r} (row {first.row}); "
                               "give the products distinct ids or make publish.key_template tell them apart",
                    )
                elif len(keys) < len(planned):
                    rejection = Rejection(
                        source=str(spec.feed.path), row=product.row, product_id=product.id, field="publish.key_template",
                        locale=market.locale,
                        reason="two of its creatives get the same publish key: add {format} and {variant} (or {job}) to publish.key_template",
                    )
                else:
                    owners.update(dict.fromkeys(keys, product))
            if rejection is not None:
                rejections.append(rejection)
                continue
            jobs.extend(planned)
    return jobs, rejections


def _plan_product(
    spec: CampaignSpec, brand: BrandKit, product: Product, index: int, notes: list[str] | None = None
) -> tuple[list[Job], Rejection | None]:
    """The jobs of one product in one market (``spec`` as planned for it; ``index``: how many jobs come before it),
    or the rejection of its templates."""
    try:
        overlay = render_overlay(spec.overlay, product, spec)
        prompts = [render_prompt(spec.template, product, brand, spec, v) for v in range(spec.variants)]
    except TemplateError as e:
        return [], Rejection(source=spec.template, row=product.row, product_id=product.id, field="template", reason=str(e),
                             locale=spec.locale)
    refs = references_for(product)
    jobs: list[Job] = []
    for fmt in spec.formats:
        for variant, prompt in enumerate(prompts):
            jobs.append(
                Job(
                    campaign=spec.slug,
                    product_id=product.id,
                    product_title=product.title,
                    format=fmt,
                    variant=variant,
                    seed=derive_seed(spec.seed, product.id, fmt.name, variant, index=index + len(jobs)),
                    backend=spec.generator.backend,
                    prompt=prompt,
                    references=refs,
                    overlay=overlay,
                    locale=spec.locale,
                    notes=list(notes or ()),
                )
            )
    return jobs, None


def next_attempt(job: Job, spec: CampaignSpec) -> Job:
    """The same job with the next attempt number and its new seed (after a QA failure)."""
    attempt = job.attempt + 1
    if spec.seed.strategy == "sequential":
        seed = (job.seed + 100_003) % SEED_MAX
    else:
        seed = derive_seed(spec.seed, job.product_id, job.format.name, job.variant, attempt)
    return job.model_copy(update={"attempt": attempt, "seed": seed})


def run_folder(spec: CampaignSpec, spec_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """The run folder: ``out_dir`` (resolved), default ``runs/<campaign slug>`` beside the campaign file."""
    return Path(out_dir).resolve() if out_dir else Path(spec_path).resolve().parent / "runs" / spec.slug


def run_target(spec: CampaignSpec, run_dir: Path, publish_to: str | None = None) -> str:
    """The run's publish target URI: ``publish_to`` (this run's override), else ``publish.target``, else the run
    folder's ``published/``."""
    return publish_to or spec.publish.target or (run_dir / "published").as_uri()
