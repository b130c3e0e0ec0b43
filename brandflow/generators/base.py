"""The generator plugin contract: options, capabilities, price, and the process-wide instances.

A backend is a :class:`Generator` subclass registered under the ``brandflow.generators`` entry-point group. It
declares

- ``Options``: the pydantic model of ``generator.options`` (``extra="forbid"``), validated when the campaign is
  loaded (``parse_options`` may add checks across fields);
- :attr:`Generator.capabilities`: images per call (batching), reference-image limit, native size multiple;
- ``estimate`` (a job's cost before it runs) and ``price`` (what a finished image cost), in US dollars.

The budget (``pipeline/budget.py``) and the flow only call these; they never name a backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from brandflow import registry
from brandflow.generators.options import validate_options
from brandflow.records import GeneratedImage, Job, ReferenceImage

if TYPE_CHECKING:
    from brandflow.spec import BudgetSpec

#: Reference roles in the order they are sent to a backend (primary packshot first).
ROLE_ORDER = ("primary_packshot", "alternate_view", "logo", "style")


def order_references(references: Sequence[ReferenceImage], limit: int | None = None) -> list[ReferenceImage]:
    """References by role (:data:`ROLE_ORDER`; feed order within a role; unknown roles last), the first ``limit``
    (``None``: all)."""
    ranked = sorted(enumerate(references), key=lambda ir: (ROLE_ORDER.index(ir[1].role) if ir[1].role in ROLE_ORDER else len(ROLE_ORDER), ir[0]))
    return [r for _, r in ranked][:limit]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared (never probed).

    Attributes:
        batch_size: images per :meth:`Generator.generate_batch` call; > 1 makes the flow group jobs of one native
            size and reference set into batches.
        max_references: reference images the backend uses per job (``None``: no limit; 0: none).
        size_multiple: native sizes are multiples of this many pixels (1: the format's exact size).
    """

    batch_size: int = 1
    max_references: int | None = 0
    size_multiple: int = 1


@dataclass(frozen=True)
class JobCost:
    """The cost of one generation: USD (``None`` = unknown), how it was obtained, and a note for humans.

    ``basis``: 'free' | 'bfl-api' | 'bfl-table' | 'gpu-time' | 'backend' | 'unknown' | 'reused', or a plugin's own word.
    """

    usd: float | None
    basis: str
    note: str = ""


def gpu_cost(seconds: float, price_per_gpu_hour: float | None) -> float | None:
    """USD of ``seconds`` of one GPU at ``price_per_gpu_hour`` USD/h; ``None`` when the price is unknown."""
    return None if price_per_gpu_hour is None else seconds * price_per_gpu_hour / 3600.0


class Generator:
    """Base class of an image generator backend.

    A backend is constructed once per worker process with the campaign's ``generator.options`` and then called
    for many jobs (a GPU backend keeps its model resident between calls).

    Class attributes:
        name: the backend name (its entry-point name).
        Options: the model of ``generator.options``.
        pricing: how the backend is priced and the source of its prices (``brandflow validate`` prints it).
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = registry.NoOptions
    pricing: ClassVar[str] = ""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = self.parse_options(options or {})

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> Any:
        """``options`` validated by :attr:`Options` (no heavy import, no network: usable by ``brandflow validate``).

        Raises:
            GeneratorOptionsError: an unknown key (with the nearest valid one) or a bad value.
        """
        if isinstance(options, cls.Options):
            return options
        return validate_options(cls.Options, options, cls.name, f"the {cls.name!r} backend's documentation")

    @classmethod
    def pixel_key(cls, options: Mapping[str, Any]) -> Any:
        """``generator.options`` as they determine the pixels, for each job's content key (the work folder's name,
        so resumption): default, the options as given. A backend whose options name files (model weights) puts
        their content's fingerprint in place of the name, so that new weights saved over the old make new creatives
        and a moved folder keeps its keys. Cheap (no model load, no network); never raises for options that
        :meth:`parse_options` rejects (the run reports those itself)."""
        return options

    @property
    def capabilities(self) -> Capabilities:
        """What this instance can do (may depend on its options); default: one image per call, no references."""
        return Capabilities()

    def native_size(self, width: int, height: int) -> tuple[int, int]:
        """The size in pixels the backend renders for a ``width × height`` format (compose resizes); default: exact."""
        return width, height

    def generate(self, job: Job, out_path: Path) -> GeneratedImage:
        """Render ``job`` deterministically from ``job.seed`` and write an RGB PNG to ``out_path``."""
        raise NotImplementedError

    def generate_batch(self, jobs: Sequence[Job], out_paths: Sequence[Path]) -> list[GeneratedImage]:
        """Render jobs of one native size and reference set; default: one :meth:`generate` call each."""
        return [self.generate(job, path) for job, path in zip(jobs, out_paths)]

    @classmethod
    def estimate(cls, options: Any, width: int, height: int, references: Sequence[Path] | None, budget: BudgetSpec) -> JobCost:
        """The expected USD of one image at a ``width × height`` format before it runs.

        Args:
            options: this backend's parsed options.
            width, height: the format, pixels.
            references: the job's reference images in :data:`ROLE_ORDER` (``None``: unknown, estimate an upper bound).
            budget: the campaign's prices (``price_per_gpu_hour``, ``gpu_seconds_per_image``).

        Returns:
            :class:`JobCost`; default: unknown (a backend without a price model).
        """
        return JobCost(None, "unknown", f"backend {cls.name!r}: no price model")

    @classmethod
    def price(cls, generated: GeneratedImage, budget: BudgetSpec) -> JobCost:
        """What one finished image cost: the ``cost`` the backend recorded on ``generated``, else unknown."""
        reported = getattr(generated, "cost", None)
        if reported is not None:
            return JobCost(float(reported), getattr(generated, "cost_basis", None) or "backend")
        return JobCost(None, "unknown", f"backend {cls.name!r} reports no cost")


def generator_class(backend: str) -> type[Generator]:
    """The class registered as ``backend``.

    Raises:
        UnknownPluginError: no such backend (the message suggests the nearest installed name).
    """
    return registry.load("generator", backend)


_instances: dict[tuple[str, str], Generator] = {}


def get_generator(backend: str, options: Mapping[str, Any]) -> Generator:
    """The process-wide instance of ``backend`` with ``options`` (built once, then reused).

    Raises:
        UnknownPluginError: no such backend is installed.
    """
    key = (backend, repr(sorted(options.items())))
    if key not in _instances:
        _instances[key] = registry.load("generator", backend)(options)
    return _instances[key]
