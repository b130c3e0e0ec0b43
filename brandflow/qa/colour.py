"""Colour QA: do the required brand colours appear, how exactly (CIEDE2000), and how much of the image is off-palette.

Colour science used here (all CIELAB is D65 / 2° observer, the sRGB white point):

* sRGB → CIELAB: :func:`skimage.color.rgb2lab` (IEC 61966-2-1 sRGB decoding, CIE 1976 L*a*b*).
* ΔE00: CIEDE2000 (CIE 142-2001), via :func:`skimage.color.deltaE_ciede2000`; verified against the 34
  test pairs of Sharma, Wu & Dalal, *Color Res. Appl.* 30(1), 2005 (tests/qa/test_colour.py).
* Thresholds (``QASpec.colour``): pass ΔE00 ≤ 2.0 (common print/brand practice), warn ≤ 3.5 (ISO 12647-2
  tolerance for solids).

Why the verdict uses per-pixel ΔE and not only k-means centres: a k-means centre is the *mean* of its
members, so anti-aliased edges, text, gradients or noise pull it away from a flat brand-colour area even when
that area is pixel-exact. The check therefore measures, per brand colour, the ΔE00 within which at least
``min_coverage`` of the pixels lie (a flat brand-colour area reads ΔE ≈ 0); the k-means palette and the
nearest centre are reported next to it for the reviewer.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from brandflow.cielab import unique_rgb, delta_e_ciede2000, dominant_colours, hex_to_lab, sample_pixels, srgb_to_lab
from brandflow.qa.base import CheckContext
from brandflow.records import VERDICT_ORDER, CheckResult, Verdict
from brandflow.registry import PluginOptions

#: A pixel is "off-palette" when its ΔE00 to every brand colour exceeds this. ΔE00 ≈ 10–20 separates
#: clearly different colours of one hue family; above 20 it is another colour altogether.
OFF_PALETTE_DELTA_E = 20.0
#: Pixels with CIELAB chroma C*ab below this are neutrals (white, grey, black, soft shadows) and are
#: never off-palette: every layout may use them.
NEUTRAL_CHROMA = 10.0
#: Warn when more than this fraction of the image is off-palette. A composited packshot at 40–70 % of the
#: short side covers at most ~50 % of the pixels, so above half the *background* itself is off-brand.
#: It is a warning only: product pixels legitimately differ from the palette.
OFF_PALETTE_WARN = 0.5


# --------------------------------------------------------------------------- helpers
def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value v with weight(values ≤ v) ≥ q · total (numpy's ``inverted_cdf`` with weights)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(values[order][min(i, len(values) - 1)])


# --------------------------------------------------------------------------- the check
class ColourThresholds(PluginOptions):
    pass_delta_e: float = Field(default=2.0, gt=0, description="ΔE00 pass ≤ (print practice)")
    warn_delta_e: float = Field(default=3.5, gt=0, description="ΔE00 warn ≤ (ISO 12647-2 solids)")
    min_coverage: float = Field(default=0.005, ge=0, le=1, description="fraction of pixels the matched colour covers")

    @model_validator(mode="after")
    def _order(self) -> ColourThresholds:
        if self.warn_delta_e < self.pass_delta_e:
            raise ValueError("warn_delta_e must be ≥ pass_delta_e")
        return self


class ColourCheck:
    """Required brand colours present within ΔE00 tolerance and coverage; off-palette share reported.

    For each brand colour with ``required=True``, with ``pass`` = ``colour.max_delta_e`` or
    ``qa.colour.pass_delta_e``, ``warn`` = ``qa.colour.warn_delta_e`` and ``min_coverage`` from
    ``qa.colour``:

    * ``delta_e`` — the ΔE00 within which at least ``min_coverage`` of the sampled pixels lie (the
      ``min_coverage`` quantile of per-pixel ΔE00 to the brand colour). A flat brand-colour area reads 0.
    * ``coverage`` — fraction of sampled pixels within ``pass`` ΔE00 of the brand colour.
    * ``nearest_centre`` / ``delta_e_centre`` / ``centre_coverage`` — the nearest k-means dominant colour
      (k = 6, CIELAB), reported for the reviewer (a centre averages its members; see the module notes).

    Verdict per colour: pass if ``delta_e ≤ pass`` (⇔ ``coverage ≥ min_coverage``), warn if
    ``delta_e ≤ warn``, fail otherwise; the check's verdict is the worst. ``off_palette`` (fraction of
    pixels with chroma ≥ :data:`NEUTRAL_CHROMA` and ΔE00 > :data:`OFF_PALETTE_DELTA_E` to every colour of the
    palette) warns above :data:`OFF_PALETTE_WARN`, never fails. The palette is the brand kit's colours plus
    ``ctx.palette``, the colours the creative's structured prompt asked for (its ``color_palette``: the autumn
    template adds rust, ochre and chestnut for the tabletop and leaves). Without them a creative drawn as asked
    was held for its own template's floor (a held-out campaign's story creative, 51 % off-palette, all of it
    rust tabletop and the product photo's lawn). Only brand colours can be ``required``.

    ``run(image, ctx)``: ``image`` is ``(H, W, 3) uint8`` sRGB; raises ValueError on another shape/dtype.
    """

    name = "colour"
    Options = ColourThresholds  # its settings: qa.<name> in the campaign, validated when it loads
    k = 6

    def run(self, image: np.ndarray, ctx: CheckContext) -> CheckResult:
        th = ctx.thresholds.colour
        px = sample_pixels(image)
        rgb_u, counts = unique_rgb(px)  # ΔE00 is computed once per distinct colour, weighted by its count
        lab = srgb_to_lab(rgb_u)
        weights = counts / counts.sum()
        dom = dominant_colours(image, k=self.k)
        asked = ctx.brand.beyond(ctx.palette)
        brand_lab = np.stack([hex_to_lab(h) for h in [c.hex for c in ctx.brand.colours] + asked])
        # (n_colours, U) ΔE00 of every distinct sampled colour to every palette colour (brand kit's first)
        de_px = delta_e_ciede2000(lab[None, :, :], brand_lab[:, None, :])

        verdicts: list[Verdict] = []
        reasons: list[str] = []
        per_colour = []
        for i, colour in enumerate(ctx.brand.colours):
            if not colour.required:
                continue
            pass_de = colour.max_delta_e or th.pass_delta_e
            warn_de = max(th.warn_delta_e, pass_de)
            d = de_px[i]
            de = _weighted_quantile(d, weights, th.min_coverage)
            coverage = float(weights[d <= pass_de].sum())
            de_c = delta_e_ciede2000(dom.lab, brand_lab[i][None, :])
            j = int(np.argmin(de_c))
            if de <= pass_de:
                v: Verdict = "pass"
            elif de <= warn_de:
                v = "warn"
                reasons.append(
                    f"{colour.name} {colour.hex}: ΔE00 {de:.2f} over pass {pass_de:g} (warn ≤ {warn_de:g}); "
                    f"nearest dominant colour {dom.hex[j]}"
                )
            else:
                v = "fail"
                reasons.append(
                    f"{colour.name} {colour.hex} missing: no {th.min_coverage:.1%} of the image within ΔE00 {warn_de:g} "
                    f"(closest {de:.1f}); nearest dominant colour {dom.hex[j]} at ΔE00 {float(de_c[j]):.1f}"
                )
            verdicts.append(v)
            per_colour.append(
                {
                    "name": colour.name,
                    "hex": colour.hex,
                    "role": colour.role,
                    "delta_e": round(de, 3),
                    "coverage": round(coverage, 4),
                    "pass_delta_e": pass_de,
                    "nearest_centre": dom.hex[j],
                    "delta_e_centre": round(float(de_c[j]), 3),
                    "centre_coverage": round(float(dom.coverage[j]), 4),
                    "verdict": v,
                }
            )

        chroma = np.hypot(lab[:, 1], lab[:, 2])
        off = float(weights[(chroma >= NEUTRAL_CHROMA) & (de_px.min(axis=0) > OFF_PALETTE_DELTA_E)].sum())
        if off > OFF_PALETTE_WARN:
            verdicts.append("warn")
            reasons.append(
                f"{off:.0%} of the image is off-palette (ΔE00 > {OFF_PALETTE_DELTA_E:g} from every brand colour"
                + (f" and the prompt's {', '.join(asked)}" if asked else "") + f", not neutral); warn above {OFF_PALETTE_WARN:.0%}"
            )
        verdict = max(verdicts, key=VERDICT_ORDER.__getitem__, default="pass")
        return CheckResult(
            check=self.name,
            verdict=verdict,
            metrics={
                "colours": per_colour,
                "off_palette": round(off, 4),
                "prompt_palette": asked,
                "dominant": [{"hex": h, "coverage": round(float(c), 4)} for h, c in zip(dom.hex, dom.coverage)],
                "samples": int(len(px)),
            },
            thresholds={
                "pass_delta_e": th.pass_delta_e,
                "warn_delta_e": th.warn_delta_e,
                "min_coverage": th.min_coverage,
                "off_palette_delta_e": OFF_PALETTE_DELTA_E,
                "neutral_chroma": NEUTRAL_CHROMA,
                "off_palette_warn": OFF_PALETTE_WARN,
            },
            reasons=reasons,
        )
