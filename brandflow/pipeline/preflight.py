"""Everything about a campaign that can be checked without Prefect, in one place: ``brandflow validate`` prints it,
``brandflow run`` calls it before Prefect is imported, so a broken campaign fails in about a second with the
same one-line message either way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brandflow.spec import BrandKit, CampaignSpec, load_campaign

if TYPE_CHECKING:
    from brandflow.pipeline.budget import CostEstimate
    from brandflow.records import Job, Product, Rejection


@dataclass
class Preflight:
    """A checked campaign: its spec and brand kit, products and rejected rows, planned jobs, cost estimate and
    the model licence check (``brandflow.licences``)."""

    spec: CampaignSpec
    brand: BrandKit
    products: list[Product]
    rejections: list[Rejection]
    jobs: list[Job]
    cost: CostEstimate
    licence: Any
    feed_problems: list[str]

    def problems(self) -> list[str]:
        """Why the campaign is not valid (``[]`` when it is): each ``publish.feeds`` plugin's problems, and a plan
        with no creative at all (every row rejected, or a filter that matches nothing) — which ``brandflow run``
        also refuses, with exit status 2, after recording it."""
        nothing = [] if self.jobs else [
            f"no creative can be planned ({len(self.products)} products, {len(self.rejections)} rejected rows). "
            "Fix the rejected rows listed above (each names its field and the fix), or widen feed.filter"]
        return [*self.feed_problems, *nothing]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (``brandflow validate --json``)."""
        spec, cost, licence = self.spec, self.cost, self.licence
        problems = self.problems()
        return {
            "valid": not problems,
            "problems": problems,
            "feed_problems": self.feed_problems,
            "campaign": spec.name,
            "brand": self.brand.name,
            "backend": spec.generator.backend,
            "template": spec.template,
            "products": len(self.products),
            "formats": [{"name": f.name, "width": f.width, "height": f.height} for f in spec.formats],
            "variants": spec.variants,
            "locales": [m.code for m in spec.locales] or ([spec.locale] if spec.locale else []),
            "creatives": len(self.jobs),
            "rejections": [r.model_dump(mode="json") for r in self.rejections],
            "cost": {"per_creative_usd": cost.per_job, "total_usd": cost.total, "worst_usd": cost.worst, "unknown": cost.unknown,
                     "basis": cost.basis, "over_budget": cost.over_budget, "summary": cost.summary(), "notes": cost.notes},
            "licence": {"model": getattr(licence, "model", None), "licence": getattr(licence, "licence", None),
                        "recorded_licence": getattr(licence, "recorded_licence", None)},
        }


def preflight(campaign: str | Path, trusted_images: Callable[[CampaignSpec], Mapping[str, str]] | None = None) -> Preflight:
    """Load and check ``campaign`` end to end without generating anything or starting Prefect: spec and brand kit
    (every plugin resolved and its options validated), model licence, C2PA signing material, product feed,
    prompt templates for every product, cost estimate, and what each ``publish.feeds`` plugin needs (its problems
    are returned in ``feed_problems``: the campaign is not valid while there are any).

    ``trusted_images(spec)`` gives ``absolute path → sha256`` of packshots an earlier run checked (see
    :func:`~brandflow.feed.catalog.load_feed`): those very bytes are hashed, not decoded again.

    Raises:
        BrandflowError: the first problem, naming file, field and fix (:class:`~brandflow.errors.SpecError`,
            :class:`~brandflow.registry.PluginOptionsError`, …).
    """
    spec, brand = load_campaign(campaign)  # first: a broken campaign fails before the heavier imports below

    from brandflow.feed.catalog import load_feed
    from brandflow.licences import check_licence
    from brandflow.pipeline.budget import estimate
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.pipeline.stages import feed_plugins
    from brandflow.publishers.provenance import C2paSigning, check_signing
    from brandflow.targets import check_publish_target

    if spec.publish.target:  # a secret never goes to a host the operator did not allow (README, "Security model")
        check_publish_target(spec.publish.target, runtime=False)
    licence = check_licence(spec, str(campaign))
    if spec.publish.provenance.enabled and spec.publish.provenance.c2pa is not None:
        check_signing(C2paSigning(**spec.publish.provenance.c2pa.model_dump()))
    products, rejections = load_feed(spec.feed, trusted_images(spec) if trusted_images else None)
    jobs, template_rejections = plan_jobs(spec, brand, products)
    feed_problems = [problem for plugin in feed_plugins(spec).values()
                     for problem in plugin.preflight(spec, [p.id for p in products], spec.publish.target)]  # type: ignore[attr-defined]
    return Preflight(spec, brand, products, rejections + template_rejections, jobs, estimate(spec, len(jobs), jobs), licence,
                     feed_problems)
