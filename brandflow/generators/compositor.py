"""The ``compositor`` backend: on-brand creatives from the product's own packshots, on the CPU, no weights.

The packshot's alpha channel cuts the product out (an opaque packshot on a plain studio backdrop is
keyed out by its border colour); the cut-out is placed, with a soft shadow computed from its alpha,
on a background built from the structured prompt. Everything random comes from
``numpy.random.default_rng(job.seed)``, so a job renders byte-identically every time and each seed
gives a different layout, background, scale and position.

Layouts (where the product goes, always inside :func:`brandflow.compose.layout.product_zone`, so the
headline band on top and the price/CTA band at the bottom stay free of product):

``hero``      one view, centred, large.
``left`` / ``right``  one view on the left / right third, open backdrop on the other side.
``pair``      primary packshot and the first alternate view side by side (needs an alternate view).
``diagonal``  a slanted floor split; two views on a diagonal (upper-left / lower-right) or one offset view.
``flatlay``   views seen from above, slightly rotated, with a drop shadow instead of a contact shadow.

Backgrounds (``color_palette[0]`` is the brand primary and always keeps a large *flat* area of its
exact sRGB value — the colour QA check reads ΔE00 ≈ 0 there; gradients and glows cover only part
of the frame; the second/accent colours appear as flat shapes or panels so they can be measured too):

``flat``      the primary, everywhere.
``gradient``  primary above; the lower part fades to a second palette colour.
``floor``     primary wall, a flat floor panel in a second palette colour that the product stands on.
``radial``    primary with a soft lighter (or darker) glow behind the product only.
``shapes``    primary with a large flat disc or ring in an accent colour behind the product and a few small dots/pills.
``card``      primary with a rounded card in the lightest palette colour behind the product.

Understood from the prompt (case-insensitive; anything else is ignored — a model reads it, we do not):

* ``composition`` (and ``subjects[*].position``), split into clauses at ``, ; .`` and ``with``/``and``/``while``;
  the first clause with ``left``/``right`` decides the side (× 5 for layout ``left``/``right``): in a clause naming
  the ``product``, the side word after it ("product on the right third" → right); otherwise the side named,
  unless the clause is about the empty side (``space``, ``copy``, ``backdrop``, ``negative``, ``background``,
  ``bokeh``, ``opening``, ``empty``, ``text``, ``headline``): "open backdrop on the left for copy" → right.
  Without a side: ``centered``/``centred``/``center``/``centre``/``symmetric`` → ``hero`` (× 4) and
  ``rule of thirds`` → ``left`` and ``right`` (× 2 each); ``side by side``/``pair``/``both views``/``two views`` → ``pair``;
  ``diagonal`` → ``diagonal``; ``flat lay``/``flat-lay``/``top-down``/``overhead``/``from above`` → ``flatlay`` (× 12);
  ``close up``/``close-up``/``fills``/``filling``/``large`` → larger product; ``negative space``/``minimal``/
  ``small`` → smaller; ``low``/``lower`` → product sits lower, ``high``/``upper`` → higher.
* ``background``: ``gradient``/``fade`` → gradient; ``seamless``/``plain``/``solid``/``flat``/``evenly lit`` → flat;
  ``floor``/``surface``/``table``/``split``/``panel``/``two-tone`` → floor; ``vignette``/``spotlight``/
  ``radial``/``glow`` → radial; ``geometric``/``shape``/``pattern``/``circle``/``memphis`` → shapes;
  ``card``/``frame`` → card; ``no props`` halves the weight of shapes.
* ``subjects[*].action``/``description``: ``plinth``/``podium``/``pedestal`` → the product stands on a flat
  cylinder, in the first ``#RRGGBB`` written in that text (else a second palette colour).
* ``lighting``: light from the ``left`` (``right``) → shadows fall to the right (left).

A hint *biases* the seeded choice (it multiplies that option's weight); it never removes the others, so
variants of one prompt still differ. ``mood``, ``style`` and ``camera`` are not used.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from brandflow.imageio import hand_on, load_rgba, write_atomic
from brandflow.records import GeneratedImage, Job, ModelLicence
from brandflow.compose.layout import hex_to_rgb, product_zone

RGB = tuple[int, int, int]
LAYOUTS = ("hero", "left", "right", "pair", "diagonal", "flatlay")
BACKGROUNDS = ("flat", "gradient", "floor", "radial", "shapes", "card")
#: Alpha above which a packshot pixel counts when trimming the cut-out (keeps soft baked-in shadows).
TRIM_ALPHA = 8
#: Alpha above which a pixel is "solid product" (used to find the product's base for the contact shadow).
SOLID_ALPHA = 160
#: Fallback brand primary when the prompt has no palette (sRGB).
DEFAULT_PRIMARY: RGB = (24, 100, 236)

# --------------------------------------------------------------------------- packshot cache
_CACHE_SIZE = 32
_cache: OrderedDict[tuple[str, str], Image.Image] = OrderedDict()
_cache_lock = Lock()


def load_cutout(path: str | Path, sha256: str) -> Image.Image:
    """The packshot at ``path`` as an RGBA cut-out trimmed to its alpha bounding box (alpha > 8).

    Cached in a process-wide LRU (32 entries) keyed by ``(path, sha256)`` — many jobs reuse one packshot;
    a changed file has a new sha256 and is decoded again. The returned image is shared: do not modify it.

    A soft shadow baked into the packshot *below* the product (rows under the lowest row with alpha > 160)
    is cut off, so the product can stand on a floor or plinth; the compositor draws its own shadow.
    An opaque packshot (no transparent pixel) whose border is one plain colour (studio backdrop) is keyed
    out: pixels within distance 24 (RGB Euclidean, 0–255 scale) of the border colour *and* connected to
    the border become transparent. Any other opaque image is used whole, as a rectangle.

    Returns:
        ``PIL.Image`` mode ``RGBA``, sRGB + straight alpha, size ``(w, h)`` pixels.

    Raises:
        ImageError: the file cannot be read (see :func:`brandflow.imageio.open_image`).
    """
    key = (str(path), sha256)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    rgba = load_rgba(path)
    if int(rgba[..., 3].min()) == 255:
        rgba = _key_out_backdrop(rgba)
    solid_rows = np.flatnonzero((rgba[..., 3] > SOLID_ALPHA).any(axis=1))
    if len(solid_rows):  # drop a shadow baked in below the product: the compositor draws its own
        rgba = rgba[: min(len(rgba), solid_rows[-1] + 2 + len(rgba) // 200)]
    im = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    box = im.getchannel("A").point(lambda a: 255 if a > TRIM_ALPHA else 0).getbbox()
    if box:
        im = im.crop(box)
    with _cache_lock:
        _cache[key] = im
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return im


def clear_cutout_cache() -> None:
    """Forget every cached cut-out (tests; a long-lived worker never needs it: keys carry the sha256)."""
    with _cache_lock:
        _cache.clear()


def _key_out_backdrop(rgba: np.ndarray, tol: float = 24.0) -> np.ndarray:
    """Alpha from a plain border colour (``(H, W, 4) uint8`` in and out); unchanged when the border is not plain."""
    import cv2

    rgb = rgba[..., :3].astype(np.int16)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg = np.median(border, axis=0)
    if (np.linalg.norm(border - bg, axis=1) <= tol).mean() < 0.95:
        return rgba
    near = (np.linalg.norm(rgb - bg, axis=2) <= tol).astype(np.uint8)
    n, labels = cv2.connectedComponents(near, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    backdrop = np.isin(labels, edge[edge > 0]) & (near > 0)  # label 0 = the not-near pixels
    alpha = np.where(backdrop, 0, 255).astype(np.uint8)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)  # a 1-px soft edge, no halo
    out = rgba.copy()
    out[..., 3] = alpha
    return out


# --------------------------------------------------------------------------- prompt hints
_EMPTY_SIDE = ("space", "copy", "backdrop", "negative", "background", "bokeh", "opening", "empty", "text", "headline")
_HEX = re.compile(r"#[0-9A-Fa-f]{6}\b")


@dataclass(frozen=True)
class PromptHints:
    """What the compositor understood from a :class:`~brandflow.records.StructuredPrompt` (see module doc).

    ``layout`` / ``background`` map an option name to a weight multiplier (missing = 1). ``scale`` multiplies
    the product size, ``lift`` shifts it vertically (fraction of the product zone height, + = down).
    ``light_from`` is ``'left'``, ``'right'`` or ``None``; ``plinth`` is the plinth colour or ``None``.
    """

    layout: dict[str, float] = field(default_factory=dict)
    background: dict[str, float] = field(default_factory=dict)
    scale: float = 1.0
    lift: float = 0.0
    light_from: str | None = None
    plinth: RGB | None = None


def parse_hints(job: Job) -> PromptHints:
    """Read layout/background hints from ``job.prompt`` (pure; the rules are listed in the module docstring)."""
    p = job.prompt
    comp = " ".join([p.composition] + [s.position for s in p.subjects]).lower()
    bg = p.background.lower()
    layout: dict[str, float] = {}
    background: dict[str, float] = {}

    def bump(d: dict[str, float], key: str, by: float) -> None:
        d[key] = d.get(key, 1.0) * by

    side = None
    for clause in re.split(r"[,;.]|\bwith\b|\band\b|\bwhile\b", comp):
        sides = [(m.start(), m.group(1)) for m in re.finditer(r"\b(left|right)\b", clause)]
        if not sides:
            continue
        prod = clause.find("product")
        if prod >= 0:  # "product on the left …": the side word nearest after 'product'
            after = [s for pos, s in sides if pos > prod]
            side = after[0] if after else sides[0][1]
        elif len({s for _, s in sides}) == 1:
            side = sides[0][1]
            if any(w in clause for w in _EMPTY_SIDE):  # "open backdrop on the left for copy"
                side = "right" if side == "left" else "left"
        else:
            continue
        break
    if side:
        bump(layout, side, 5.0)
    if re.search(r"\b(cent(er|re)(e?d)?|symmetr\w*)\b", comp) and not side:
        bump(layout, "hero", 4.0)
    if "rule of thirds" in comp and not side:
        bump(layout, "left", 2.0)
        bump(layout, "right", 2.0)
    if re.search(r"side[ -]by[ -]side|\bpair\b|both views|two views", comp):
        bump(layout, "pair", 4.0)
    if "diagonal" in comp:
        bump(layout, "diagonal", 4.0)
    if re.search(r"flat[ -]?lay|top[ -]down|overhead|from above", comp):
        bump(layout, "flatlay", 12.0)

    scale = 1.0
    if re.search(r"close[ -]up|\bfill(s|ing)?\b|\blarge\b", comp):
        scale *= 1.06
    if re.search(r"negative space|minimal|\bsmall\b", comp):
        scale *= 0.9
    lift = 0.0
    if re.search(r"\blow(er)?\b", comp):
        lift += 0.06
    if re.search(r"\b(high|upper)\b", comp):
        lift -= 0.06

    for words, style, by in (
        (r"gradient|fade", "gradient", 4.0),
        (r"seamless|plain|solid|\bflat\b|evenly lit", "flat", 2.5),
        (r"floor|surface|table|split|panel|two[ -]tone", "floor", 3.0),
        (r"vignette|spotlight|radial|glow", "radial", 3.0),
        (r"geometric|shape|pattern|circle|memphis", "shapes", 4.0),
        (r"\bcard\b|\bframe\b", "card", 3.0),
    ):
        if re.search(words, bg):
            bump(background, style, by)
    if "no props" in bg:
        bump(background, "shapes", 0.5)

    light = p.lighting.lower()
    light_from = None
    m = re.search(r"\b(left|right)\b", light)
    if m:
        light_from = m.group(1)

    plinth = None
    for s in p.subjects:
        text = f"{s.action} {s.description}"
        if re.search(r"plinth|podium|pedestal", text, re.I):
            hexes = _HEX.findall(text)
            plinth = hex_to_rgb(hexes[0]) if hexes else (-1, -1, -1)  # (-1, …) = "a second palette colour"
            break
    return PromptHints(layout, background, scale, lift, light_from, plinth)


# --------------------------------------------------------------------------- scene
@dataclass(frozen=True)
class Placement:
    """One cut-out in the output: index into ``job.references``, its role, the pasted box ``(x0, y0, x1, y1)``
    (pixels, exclusive ends, inside the product zone) and its rotation in degrees (counter-clockwise)."""

    ref: int
    role: str
    box: tuple[int, int, int, int]
    angle: float = 0.0


@dataclass(frozen=True)
class Scene:
    """What :meth:`CompositorGenerator.render` decided: layout, background style, colours (``(R, G, B)`` sRGB
    uint8), the cut-outs' placements, and the plinth colour (``None`` = no plinth)."""

    layout: str
    background: str
    primary: RGB
    second: RGB
    accent: RGB
    placements: tuple[Placement, ...]
    plinth: RGB | None = None


def _choose(rng: np.random.Generator, options: tuple[str, ...], base: dict[str, float], bias: dict[str, float]) -> str:
    w = np.array([base.get(o, 1.0) * bias.get(o, 1.0) for o in options], dtype=np.float64)
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _lum(c: RGB) -> float:
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _dist(a: RGB, b: RGB) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


class CompositorGenerator:
    """Deterministic packshot compositor (the embedded default backend; CPU, no weights).

    Options (``generator.options``):
        shadow (bool, default ``True``): soft shadow under the product, computed from its alpha.
        scale (float, default ``1.0``, range 0.5–1.2): multiplies the product size.

    Raises:
        ValueError: unknown option or out-of-range value (names the option).
    """

    name = "compositor"

    def __init__(self, options: dict[str, Any] | None = None):
        options = dict(options or {})
        self.shadow = bool(options.pop("shadow", True))
        self.scale = float(options.pop("scale", 1.0))
        if not 0.5 <= self.scale <= 1.2:
            raise ValueError(f"generator.options.scale: {self.scale} is outside 0.5–1.2")
        if options:
            raise ValueError(f"generator.options: unknown option(s) for compositor: {sorted(options)}; known: scale, shadow")

    @classmethod
    def model_licence(cls, options: dict[str, Any] | None = None) -> ModelLicence:
        """No model: the compositor places the product's own packshot on a rendered layout (no weights, no
        trained model), so there is no model licence to honour."""
        return ModelLicence(model="brandflow compositor", model_id="brandflow:compositor", licence="none",
                            commercial_use=True, trained=False, note="no trained model; pixels from the packshot and a rendered layout")

    def native_size(self, width: int, height: int) -> tuple[int, int]:
        """The compositor renders at the format's exact size: returns ``(width, height)`` pixels unchanged."""
        return width, height

    # ------------------------------------------------------------------ public
    def generate(self, job: Job, out_path: Path) -> GeneratedImage:
        """Render ``job`` and write an RGB PNG (``(H, W, 3)`` uint8 sRGB, H × W = the format size) atomically.

        Deterministic: the same job (prompt, references, seed, size) gives byte-identical PNG bytes.

        Returns:
            :class:`GeneratedImage` with ``path=out_path``, size in pixels, the file's sha256 and wall seconds.

        Raises:
            ImageError: a reference packshot cannot be read.
            ValueError: the job has no primary_packshot/alternate_view reference.
        """
        t0 = time.perf_counter()
        image, _ = self.render(job)
        # an intermediate file (compose re-encodes the creative): zlib level 1 is ~2x faster than 6 and
        # still deterministic (Pillow writes no timestamp)
        buf = io.BytesIO()
        image.save(buf, "PNG", compress_level=1)
        data = buf.getvalue()
        write_atomic(Path(out_path), data)
        sha = hashlib.sha256(data).hexdigest()
        hand_on(out_path, sha, image, "png")  # compose reads these pixels without decoding the file
        return GeneratedImage(
            path=Path(out_path), width=image.width, height=image.height, sha256=sha, seconds=round(time.perf_counter() - t0, 4),
        )

    def render(self, job: Job) -> tuple[Image.Image, Scene]:
        """Render ``job`` in memory: the ``RGB`` PIL image at :meth:`native_size` and the :class:`Scene` chosen.

        Raises:
            ImageError: a reference packshot cannot be read.
            ValueError: the job has no primary_packshot/alternate_view reference.
        """
        w, h = self.native_size(job.format.width, job.format.height)
        rng = np.random.default_rng(job.seed)
        hints = parse_hints(job)
        refs = [(i, r) for i, r in enumerate(job.references) if r.role in ("primary_packshot", "alternate_view")]
        refs.sort(key=lambda ir: (ir[1].role != "primary_packshot", ir[0]))
        if not refs:
            raise ValueError(f"job {job.job_id}: no primary_packshot or alternate_view reference to compose")
        cutouts = [load_cutout(r.path, r.sha256) for _, r in refs[:2]]

        primary, second, accent, light = self._colours(job, rng)
        base_layout = {"hero": 1.2, "left": 0.8, "right": 0.8, "pair": 1.3 if len(cutouts) > 1 else 0.0, "diagonal": 0.7, "flatlay": 0.25}
        layout = _choose(rng, LAYOUTS, base_layout, hints.layout)
        base_bg = {"flat": 1.0, "gradient": 1.0, "floor": 1.0, "radial": 1.0, "shapes": 1.0, "card": 0.6}
        if layout == "flatlay":
            base_bg.update(floor=0.0, gradient=0.5)  # a floor line makes no sense seen from above
        background = "floor" if layout == "diagonal" else _choose(rng, BACKGROUNDS, base_bg, hints.background)
        plinth = hints.plinth is not None and layout in ("hero", "left", "right") and background not in ("floor", "card") and rng.random() < 0.75
        plinth_rgb = hints.plinth if hints.plinth and hints.plinth[0] >= 0 and _dist(hints.plinth, primary) >= 30 else second

        zone = product_zone(w, h)
        scale = min(1.0, float(rng.uniform(0.84, 0.97)) * hints.scale * self.scale)
        items, floor_y, plinth_box = self._place(layout, cutouts, zone, scale, hints, rng, plinth)

        canvas = Image.new("RGB", (w, h), primary)
        self._background(canvas, background, layout, items, floor_y, primary, second, accent, light, rng)
        if plinth_box is not None:
            self._plinth(canvas, plinth_box, plinth_rgb)  # type: ignore[arg-type]
        light_dx = {"left": 1, "right": -1, None: 0}[hints.light_from]
        placements = []
        for ref_i, prod, x, y, angle in items:
            if self.shadow:
                if layout == "flatlay":
                    self._drop_shadow(canvas, prod, x, y, light_dx)
                else:
                    self._contact_shadow(canvas, prod, x, y, light_dx)
            canvas.paste(prod, (x, y), prod)
            placements.append(Placement(refs[ref_i][0], refs[ref_i][1].role, (x, y, x + prod.width, y + prod.height), angle))
        scene = Scene(layout, background, primary, second, accent, tuple(placements), plinth_rgb if plinth_box is not None else None)
        return canvas, scene

    # ------------------------------------------------------------------ colours
    @staticmethod
    def _colours(job: Job, rng: np.random.Generator) -> tuple[RGB, RGB, RGB, RGB]:
        """``(primary, second, accent, light)``: the primary is ``color_palette[0]``; the others are palette
        colours that stand apart from it (RGB distance ≥ 40), chosen by the seed; derived tints when none do."""
        pal = [hex_to_rgb(c) for c in job.prompt.color_palette] or [DEFAULT_PRIMARY]
        primary = pal[0]
        others = []
        for c in pal[1:]:
            if _dist(c, primary) >= 40 and all(_dist(c, o) >= 12 for o in others):
                others.append(c)
        # a shade that always differs from the primary: darker for light primaries, lighter for dark ones
        shade = _mix(primary, (0, 0, 0), 0.28) if _lum(primary) > 60 else _mix(primary, (255, 255, 255), 0.3)
        if not others:
            return primary, shade, shade, _mix(primary, (255, 255, 255), 0.85) if _lum(primary) < 200 else shade
        order = [int(i) for i in rng.permutation(len(others))]
        second = others[order[0]]
        accent = others[order[1]] if len(others) > 1 else second
        lightest = max(others, key=_lum)
        light = lightest if _lum(lightest) > _lum(primary) + 40 else _mix(primary, (255, 255, 255), 0.85)
        return primary, second, accent, light

    # ------------------------------------------------------------------ placement
    @staticmethod
    def _fit(cut: Image.Image, box_w: float, box_h: float) -> Image.Image:
        k = min(box_w / cut.width, box_h / cut.height)
        size = (max(1, round(cut.width * k)), max(1, round(cut.height * k)))
        return cut.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0 if k < 0.5 else None)

    def _place(self, layout: str, cutouts: list[Image.Image], zone: tuple[int, int, int, int], scale: float,
               hints: PromptHints, rng: np.random.Generator, plinth: bool):
        """Resize and position the cut-outs: ``([(ref index, RGBA image, x, y, angle)], floor y, plinth box)``."""
        zx0, zy0, zx1, zy1 = zone
        zw, zh = zx1 - zx0, zy1 - zy0
        items: list[tuple[int, Image.Image, int, int, float]] = []
        floor_y = None
        plinth_box = None

        def clamp_xy(prod: Image.Image, cx: float, y: float) -> tuple[int, int]:
            x = int(round(min(max(cx - prod.width / 2, zx0), zx1 - prod.width)))
            y = int(round(min(max(y, zy0), zy1 - prod.height)))
            return x, y

        if layout in ("hero", "left", "right"):
            frac_w = 0.94 if layout == "hero" else (0.7 if zh > zw else 0.6)  # tall frames: less room needed for copy
            avail_h = zh * (0.8 if plinth else 1.0)
            prod = self._fit(cutouts[0], zw * frac_w * min(scale, 1.0), avail_h * min(scale, 1.0))
            if layout == "hero":
                cx = zx0 + zw * (0.5 + rng.uniform(-0.035, 0.035))
            else:
                t = rng.uniform(0.3, 0.36)
                cx = zx0 + zw * (t if layout == "left" else 1 - t)
            if plinth:
                pw = min(zw * 0.9, max(prod.width * rng.uniform(1.15, 1.35), zw * 0.35))
                ph = zh - avail_h + zh * 0.02
                top_h = min(pw * 0.16, ph * 0.4)  # the top and front ellipses never meet
                px0 = int(round(min(max(cx - pw / 2, zx0), zx1 - pw)))
                py1 = zy1
                py0 = int(round(py1 - ph))
                plinth_box = (px0, py0, int(round(px0 + pw)), py1, int(round(top_h)))
                # the product's base rests on the middle of the plinth's top ellipse
                y = py0 + top_h * 0.55 - prod.height
                x, y = clamp_xy(prod, px0 + pw / 2, y)
            else:
                slack = zh - prod.height
                y = zy0 + slack * (0.5 + hints.lift * 4 + rng.uniform(-0.25, 0.25))
                x, y = clamp_xy(prod, cx, y)
                floor_y = y + prod.height - int(prod.height * rng.uniform(0.05, 0.1))
            items.append((0, prod, x, y, 0.0))
        elif layout == "pair":
            order = [0, 1] if rng.random() < 0.5 else [1, 0]
            prods = [self._fit(cutouts[i], zw * 0.48, zh * min(scale, 1.0) * (1.0 if i == 0 else 0.88)) for i in range(2)]
            base = zy0 + max(p.height for p in prods) + (zh - max(p.height for p in prods)) * (0.5 + hints.lift * 4 + rng.uniform(-0.25, 0.25))
            for slot, i in enumerate(order):
                cx = zx0 + zw * (0.26 if slot == 0 else 0.74)
                x, y = clamp_xy(prods[i], cx, base - prods[i].height)
                items.append((i, prods[i], x, y, 0.0))
            floor_y = int(base - min(p.height for p in prods) * 0.06)
        elif layout == "diagonal":
            flip = rng.random() < 0.5
            if len(cutouts) > 1:
                big = self._fit(cutouts[0], zw * 0.6, zh * 0.7 * scale)
                small = self._fit(cutouts[1], zw * 0.46, zh * 0.5 * scale)
                sx = zx0 + zw * (0.28 if not flip else 0.72)
                bx = zx0 + zw * (0.66 if not flip else 0.34)
                items.append((1, small, *clamp_xy(small, sx, zy0 + zh * 0.02), 0.0))
                items.append((0, big, *clamp_xy(big, bx, zy1 - big.height - zh * 0.02), 0.0))
                floor_y = items[-1][3] + int(big.height * 0.7)
            else:
                prod = self._fit(cutouts[0], zw * 0.66, zh * 0.95 * scale)
                x, y = clamp_xy(prod, zx0 + zw * (0.62 if not flip else 0.38), zy0 + (zh - prod.height) * rng.uniform(0.4, 0.9))
                items.append((0, prod, x, y, 0.0))
                floor_y = y + int(prod.height * 0.9)
        else:  # flatlay
            n = len(cutouts)
            for i in range(n):
                angle = float(rng.uniform(6, 14) * (1 if rng.random() < 0.5 else -1))
                prod = self._fit(cutouts[i], zw * (0.8 if n == 1 else 0.45), zh * scale * (0.82 if n == 1 else 0.7))
                prod = prod.rotate(angle, Image.Resampling.BICUBIC, expand=True)
                # the rotated box is larger: fit it again if it overflows the zone (rare; keeps the bands clear)
                if prod.width > zw or prod.height > zh:
                    k = min(zw / prod.width, zh / prod.height)
                    prod = prod.resize((max(1, int(prod.width * k)), max(1, int(prod.height * k))), Image.Resampling.LANCZOS)
                cx = zx0 + zw * (0.5 if n == 1 else (0.28 if i == 0 else 0.72))
                cy = zy0 + zh * (0.5 + (0 if n == 1 else (-0.12 if i == 0 else 0.12)))
                x, y = clamp_xy(prod, cx, cy - prod.height / 2)
                items.append((i, prod, x, y, angle))
        return items, floor_y, plinth_box

    # ------------------------------------------------------------------ background
    def _background(self, canvas: Image.Image, style: str, layout: str, items, floor_y, primary: RGB, second: RGB,
                    accent: RGB, light: RGB, rng: np.random.Generator) -> None:
        w, h = canvas.size
        draw = ImageDraw.Draw(canvas)
        x0 = min(it[2] for it in items)
        y0 = min(it[3] for it in items)
        x1 = max(it[2] + it[1].width for it in items)
        y1 = max(it[3] + it[1].height for it in items)
        zx0, zy0, zx1, zy1 = product_zone(w, h)
        if style == "gradient":
            # only the lower part fades: the upper part (≥ half the frame) stays the exact primary
            start = int(h * rng.uniform(0.5, 0.66))
            end = second if _dist(second, primary) >= 30 else _mix(primary, (0, 0, 0), 0.3)
            t = (np.linspace(0.0, 1.0, h - start, dtype=np.float64) ** 1.6)[:, None]
            rows = (np.array(primary, float) * (1 - t) + np.array(end, float) * t).round().astype(np.uint8)
            canvas.paste(Image.fromarray(np.ascontiguousarray(np.broadcast_to(rows[:, None, :], (h - start, w, 3))), "RGB"), (0, start))
        elif style == "floor":
            fy = floor_y if floor_y is not None else int(zy0 + (zy1 - zy0) * 0.75)
            fy = int(min(max(fy, zy0 + (zy1 - zy0) * 0.45), zy1))
            colour = second if _dist(second, primary) >= 30 else light
            if layout == "diagonal":
                slant = int(h * rng.uniform(0.1, 0.18)) * (1 if rng.random() < 0.5 else -1)
                ya, yb = fy + slant // 2, fy - slant // 2
                lo = zy0 + (zy1 - zy0) * 0.35
                ya, yb = int(max(ya, lo)), int(max(yb, lo))
                draw.polygon([(0, ya), (w, yb), (w, h), (0, h)], fill=colour)
            else:
                draw.rectangle([0, fy, w, h], fill=colour)
        elif style == "radial":
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            r = 0.62 * max(x1 - x0, y1 - y0) * rng.uniform(0.95, 1.2)
            glow = _mix(primary, (255, 255, 255), 0.24) if _lum(primary) < 170 else _mix(primary, (0, 0, 0), 0.1)
            bx0, by0, bx1, by1 = (max(0, int(cx - r)), max(0, int(cy - r)), min(w, int(cx + r) + 1), min(h, int(cy + r) + 1))
            # the glow is computed at 1/4 resolution (smooth anyway) and scaled up; outside r it is exactly 0
            q = 4
            gy, gx = np.mgrid[by0:by1:q, bx0:bx1:q].astype(np.float32)
            d = np.sqrt((gx - cx) ** 2 + (gy - cy) ** 2) / r
            m = np.clip(1.0 - d, 0.0, 1.0)
            m = (m * m * (3 - 2 * m) * 255).astype(np.uint8)
            mask = Image.fromarray(m, "L").resize((bx1 - bx0, by1 - by0), Image.Resampling.BILINEAR)
            canvas.paste(glow, (bx0, by0, bx1, by1), mask)
        elif style == "shapes":
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            zone_r = min(zx1 - zx0, zy1 - zy0) / 2
            r = min(zone_r * rng.uniform(0.8, 0.98), 0.56 * max(x1 - x0, y1 - y0))
            colour = accent if _dist(accent, primary) >= 30 else second
            cy = min(max(cy, zy0 + r), zy1 - r)  # the disc stays out of the text bands
            if rng.random() < 0.7:
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
            else:
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour, width=max(4, int(r * 0.12)))
            # a few small dots and pills orbiting the disc, kept inside the product zone (out of the text bands)
            small = [second, accent, light]
            start = rng.uniform(0, 2 * np.pi)
            for k in range(int(rng.integers(3, 6))):
                sr = min(w, h) * rng.uniform(0.012, 0.026)
                ang = start + k * rng.uniform(0.7, 1.4)
                sx = min(max(cx + np.cos(ang) * r * 1.12, zx0 + 2.2 * sr), zx1 - 2.2 * sr)
                sy = min(max(cy + np.sin(ang) * r * 1.12, zy0 + sr), zy1 - sr)
                c = small[int(rng.integers(len(small)))]
                if rng.random() < 0.6:
                    draw.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=c)
                else:
                    draw.rounded_rectangle([sx - 2.2 * sr, sy - sr * 0.7, sx + 2.2 * sr, sy + sr * 0.7], radius=sr * 0.7, fill=c)
        elif style == "card":
            pad = min(w, h) * rng.uniform(0.03, 0.05)
            box = [max(zx0, x0 - pad), max(zy0, y0 - pad), min(zx1, x1 + pad), min(zy1, y1 + pad)]
            draw.rounded_rectangle(box, radius=min(w, h) * 0.035, fill=light)
        # "flat": nothing to add — the canvas is the primary already

    @staticmethod
    def _plinth(canvas: Image.Image, box: tuple[int, int, int, int, int], colour: RGB) -> None:
        """A flat cylinder: body in ``colour`` exactly, a slightly lighter top ellipse of height ``box[4]``."""
        x0, y0, x1, y1, top_h = box
        draw = ImageDraw.Draw(canvas)
        draw.rectangle([x0, y0 + top_h // 2, x1 - 1, y1 - top_h // 2], fill=colour)
        draw.ellipse([x0, y1 - top_h, x1 - 1, y1 - 1], fill=colour)  # the rounded front of the cylinder
        top = _mix(colour, (255, 255, 255), 0.14) if _lum(colour) < 200 else _mix(colour, (0, 0, 0), 0.06)
        draw.ellipse([x0, y0, x1 - 1, y0 + top_h], fill=top)

    # ------------------------------------------------------------------ shadows
    @staticmethod
    def _soft_mask(mask_small: Image.Image, opacity: float, sigma: float) -> tuple[Image.Image, int]:
        """Blur a quarter-resolution ``L`` mask (padded by 3σ so the blur is never clipped) scaled by
        ``opacity`` and upscale it ×4; returns ``(mask, pad)`` with ``pad`` in full-resolution pixels."""
        pad = int(np.ceil(3 * sigma)) + 2
        mask = Image.new("L", (mask_small.width + 2 * pad, mask_small.height + 2 * pad), 0)
        mask.paste(mask_small.point(lambda a: int(a * opacity)), (pad, pad))
        mask = mask.filter(ImageFilter.GaussianBlur(sigma))
        return mask.resize((mask.width * 4, mask.height * 4), Image.Resampling.BILINEAR), 4 * pad

    def _contact_shadow(self, canvas: Image.Image, prod: Image.Image, x: int, y: int, light_dx: int) -> None:
        """A soft contact shadow under a standing product: its solid alpha (> 160) squashed to 1/10 of its
        height, blurred (σ ≈ 1/3 of that height), 40 % black, centred on the product's solid base and shifted
        away from the light. Blurred at 1/4 resolution for speed."""
        solid = prod.getchannel("A").point(lambda a: 255 if a > SOLID_ALPHA else 0)
        box = solid.getbbox()
        if not box:
            return
        sx0, sy0, sx1, sy1 = box
        sw, sh = sx1 - sx0, max(8, (sy1 - sy0) // 10)
        flat = solid.crop(box).resize((max(1, sw // 4), max(1, sh // 4)), Image.Resampling.BOX)
        mask, pad = self._soft_mask(flat, 0.4, max(1.5, flat.height / 3))
        dx = light_dx * sw // 25
        canvas.paste((0, 0, 0), (x + sx0 - pad + dx, y + sy1 - (sh * 2) // 3 - pad), mask)

    def _drop_shadow(self, canvas: Image.Image, prod: Image.Image, x: int, y: int, light_dx: int) -> None:
        """A soft drop shadow for a product seen from above: its alpha, 30 % black, blurred (σ ≈ 1.5 % of its
        size), offset down and away from the light. Blurred at 1/4 resolution for speed."""
        small = prod.getchannel("A").resize((max(1, prod.width // 4), max(1, prod.height // 4)), Image.Resampling.BOX)
        mask, pad = self._soft_mask(small, 0.3, max(1.5, max(small.size) * 0.015))
        off = max(4, prod.height // 40)
        canvas.paste((0, 0, 0), (x - pad + off * (light_dx or 1), y - pad + off), mask)
