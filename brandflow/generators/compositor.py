"""The ``compositor`` backend: on-brand creatives from the product's own packshots, on the CPU, no weights.

The packshot's alpha channel cuts the product out (an opaque packshot on a plain studio backdrop is
keyed out by its border colour); the cut-out is placed, with a soft shadow computed from its alpha,
on a backdrop built from the structured prompt. Everything random comes from
``numpy.random.default_rng(job.seed)``, so a job renders byte-identically every time.

How a creative is built:

1. **Layout** — :func:`brandflow.compose.layout.frame_layout` cuts the frame by aspect ratio (tall, square,
   landscape, banner) into headline, product, price/CTA and logo boxes, outside the channel's text-free
   zones (``format.text_free_top/bottom``). The product fills its box (92–97 % of the limiting side), never
   past its own pixels (scale ≤ 1; a note on the record says when the packshot is too small); a wide product
   in a tall box shows its alternate view under it at the same scale.
2. **Separation** — the backdrop behind the product is the palette colour, tint or shade with the largest
   ΔE00 (CIEDE2000) to the product's nearest dominant colour (k-means in CIELAB, clusters ≥ 10 % of the
   product): a blue shoe on a blue brand gets a navy, light or warm backdrop, not the blue. Every pick must
   reach ``SEPARATION_MIN`` = 5 ΔE00 — above 5 an observer sees two different colours (Mokrzycki & Tatol,
   "Colour difference ΔE — a survey", Machine Graphics & Vision 20(4), 2011); the chooser maximises, so real
   picks are far above it (bench/design.py).
3. **Brand panel** — when the backdrop is not the primary, a full-bleed panel in the *exact* primary sits
   behind price and CTA: the brand colour is always present (the colour QA check reads ΔE00 ≈ 0 there).
4. **The look** — :func:`parse_look` reads scene, mood, lighting, background and subjects, the fields a
   FLUX.2 model reads: studio sweep or lifestyle tabletop, warm (autumn, golden) light, light side, hard or
   soft shadows, fallen leaves, a plinth; ``color_palette`` supplies every candidate colour.

Decorations (leaves, plinth) are placed only where their boxes touch no other element (tested).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from pydantic import Field

from brandflow.cielab import delta_e_ciede2000, dominant_colours, srgb_to_lab
from brandflow.colour import contrast_ratio, hex_to_rgb, rgb_to_hex
from brandflow.compose.layout import GAP, FrameLayout, bottom_rows, boxes_overlap, frame_layout
from brandflow.generators.base import Capabilities, Generator, JobCost
from brandflow.imageio import INPUT_MAX_SIDE, load_rgba, write_work_png
from brandflow.once import OncePerKey
from brandflow.records import Box, GeneratedImage, Job, ModelLicence, PlacedImage
from brandflow.registry import PluginOptions

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
#: ΔE00 a backdrop must keep from each dominant product colour: above 5 an observer sees two different
#: colours (Mokrzycki & Tatol 2011, see the module doc).
SEPARATION_MIN = 5.0
#: Separation the chooser aims for before it weighs preferences (mid tone, text contrast, a named colour):
#: ΔE00 20, a clearly different colour at a glance (bench/design.py reports how many creatives reach it).
SEPARATION_TARGET = 20.0
#: The seed chooses among backdrops within this many ΔE00 of the best score.
SEPARATION_SLACK = 6.0
#: A product colour counts as dominant when its k-means cluster covers at least this share of the product.
DOMINANT_SHARE = 0.10
#: Alpha above which a packshot pixel counts when trimming the cut-out (keeps soft baked-in shadows).
TRIM_ALPHA = 8
#: Alpha above which a pixel is "solid product" (used to find the product's base for the contact shadow).
SOLID_ALPHA = 160
#: Fallback brand primary when the prompt has no palette (sRGB).
DEFAULT_PRIMARY: RGB = (24, 100, 236)

# --------------------------------------------------------------------------- packshot cache
#: ``(path, sha256)`` → cut-out, the last 32; threads asking for one packshot at once wait for one cut-out.
_cutouts: OncePerKey[Image.Image] = OncePerKey(maxsize=32)


#: Key of a cut-out's ``Image.info`` holding the part of its packshot it is (:func:`load_cutout`).
CROP_INFO = "brandflow_crop"


def load_cutout(path: str | Path, sha256: str) -> Image.Image:
    """The packshot at ``path`` as an RGBA cut-out trimmed to its alpha bounding box (alpha > 8).

    Cached in a process-wide LRU (32 entries) keyed by ``(path, sha256)`` — many jobs reuse one packshot;
    a changed file has a new sha256 and is decoded again; threads that ask for one packshot together wait for one
    cut-out (:class:`brandflow.once.OncePerKey`). The returned image is shared: do not modify it.

    ``info[CROP_INFO]`` holds the part of the packshot the cut-out is, as fractions ``(x0, y0, x1, y1)`` of its width
    and height (recorded with each placement: ``PlacedImage.crop``).

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
    return _cutouts.get((str(path), sha256), lambda: _cut_out(path))[0]


def _cut_out(path: str | Path) -> Image.Image:
    rgba = load_rgba(path, max_side=INPUT_MAX_SIDE)  # a 62 MP packshot is cut down before any working copy
    rgba_shape = rgba.shape  # the packshot's frame, for the crop recorded with every placement
    if int(rgba[..., 3].min()) == 255:
        rgba = _key_out_backdrop(rgba)
    solid_rows = np.flatnonzero((rgba[..., 3] > SOLID_ALPHA).any(axis=1))
    if len(solid_rows):  # drop a shadow baked in below the product: the compositor draws its own
        rgba = rgba[: min(len(rgba), solid_rows[-1] + 2 + len(rgba) // 200)]
    im = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    box = im.getchannel("A").point(lambda a: 255 if a > TRIM_ALPHA else 0).getbbox()
    if box:
        im = im.crop(box)
    x0, y0, x1, y1 = box or (0, 0, im.width, im.height)
    h, w = int(rgba_shape[0]), int(rgba_shape[1])
    im.info[CROP_INFO] = (round(x0 / w, 6), round(y0 / h, 6), round(x1 / w, 6), round(y1 / h, 6))
    return im


def clear_cutout_cache() -> None:
    """Forget every cached cut-out (tests; a long-lived worker never needs it: keys carry the sha256)."""
    _cutouts.clear()


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


_HEX = re.compile(r"#[0-9A-Fa-f]{6}\b")


# --------------------------------------------------------------------------- product colours and separation
@lru_cache(maxsize=64)
def _product_colours(path: str, sha256: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``((lab (3,), coverage), …)``: the cut-out's dominant colours (k-means, k = 4, opaque pixels), largest first."""
    cut = load_cutout(path, sha256)
    a = np.asarray(cut)
    dom = dominant_colours(np.ascontiguousarray(a[..., :3]), k=4, mask=a[..., 3] > SOLID_ALPHA, max_samples=6000)
    return tuple((dom.lab[i], float(dom.coverage[i])) for i in range(len(dom.coverage)))


def separation(product_lab: Sequence[tuple[np.ndarray, float]], rgb: RGB, min_share: float = DOMINANT_SHARE) -> float:
    """How well a background colour separates from a product: the smallest ΔE00 (CIEDE2000, CIELAB D65)
    between ``rgb`` (sRGB uint8) and each of the product's dominant colours covering ≥ ``min_share`` of it.

    The minimum, not a mean: a white-and-blue shoe on blue loses its blue parts, whatever the white does.
    """
    bg = srgb_to_lab(np.array(rgb, dtype=np.uint8))
    des = [float(delta_e_ciede2000(lab, bg)) for lab, share in product_lab if share >= min_share]
    if not des:  # every colour below the share: use the largest
        des = [float(delta_e_ciede2000(product_lab[0][0], bg))]
    return min(des)


def _lab_key(product_lab: Sequence[tuple[np.ndarray, float]]) -> tuple[tuple[tuple[float, ...], float], ...]:
    """``product_lab`` (``((lab (3,) float, coverage 0–1), …)``, as :func:`_product_colours` gives it) as a hashable
    key of Python floats: each float64 converts to a float and back exactly, so the scores computed from it are the same."""
    return tuple((tuple(float(v) for v in lab), float(share)) for lab, share in product_lab)


@lru_cache(maxsize=256)
def _scored_surfaces(pal: tuple[RGB, ...], product_lab: tuple[tuple[tuple[float, ...], float], ...],
                     prefer: tuple[RGB, ...], warm: bool | None) -> tuple[tuple[float, float, str, RGB], ...]:
    """Every backdrop candidate of ``pal`` scored for :meth:`CompositorGenerator._surface`, best first:
    ``((score, ΔE00 separation, name, sRGB), …)``, score = ΔE00 + the preference bonus (ΔE00 units).

    Deterministic in its arguments (palette, the product's dominant colours as :func:`_lab_key` gives them, the colours
    the background text names, the warm filter), so it is computed once per distinct input: one call costs ~21 × (one
    sRGB→CIELAB conversion + up to four single-value ΔE00 calls), ~10 ms, and every creative of a product asks it again
    with the same arguments. The seed's pick among the best stays in the caller, on every call.
    ``warm=True`` / ``False`` keeps warm / other candidates only; an empty tuple when none is left."""
    lab = [(np.array(c), share) for c, share in product_lab]
    scored = []
    for name, rgb in surface_candidates(pal):
        if warm is not None and warm != _is_warm(rgb):
            continue
        de = separation(lab, rgb)
        bonus = 6.0 if rgb in prefer else 0.0
        if 35 < _lum(rgb) < 235:  # a mid or deep surface reads as a backdrop; near-white and near-black look empty
            bonus += 4.0
        if max(contrast_ratio(rgb, WHITE), contrast_ratio(rgb, (17, 17, 17))) >= 4.5:
            bonus += 8.0  # the headline can sit on it without a plate (WCAG 2.x AA, 4.5:1)
        # preferences only among backdrops that already separate clearly (≥ SEPARATION_TARGET)
        scored.append((de + (bonus if de >= SEPARATION_TARGET else 0.0), de, name, rgb))
    scored.sort(key=lambda t: -t[0])  # stable: equal scores keep the candidates' order
    return tuple(scored)


def surface_candidates(palette: Sequence[RGB]) -> list[tuple[str, RGB]]:
    """Background candidates from a palette: each colour, its tints (mixed with white 35 / 70 / 88 %) and
    shades (mixed with black 35 / 60 %), named ``'#RRGGBB'``, ``'#RRGGBB tint 70'``, ``'#RRGGBB shade 35'``."""
    out: list[tuple[str, RGB]] = []
    seen: set[RGB] = set()
    for c in palette:
        name = rgb_to_hex(c)
        for label, rgb in ([(name, c)] + [(f"{name} tint {round(t * 100)}", _mix(c, WHITE, t)) for t in (0.35, 0.7, 0.88)]
                           + [(f"{name} shade {round(t * 100)}", _mix(c, BLACK, t)) for t in (0.35, 0.6)]):
            if rgb not in seen:
                seen.add(rgb)
                out.append((label, rgb))
    return out


# --------------------------------------------------------------------------- the look, read from the prompt
@dataclass(frozen=True)
class Look:
    """What the compositor read from the structured prompt's ``scene``, ``mood``, ``lighting``, ``background``,
    ``style`` and ``subjects`` text (the fields a FLUX.2 model reads; rules in :func:`parse_look`).

    Attributes:
        setting: ``'studio'`` (seamless sweep, no horizon) or ``'lifestyle'`` (a tabletop with a horizon line).
        warmth: 0–1, how much the light is tinted warm (autumn, golden hour, sunset, warm …).
        light_from: ``'left' | 'right' | 'top'``: where the key light comes from (shadows fall away from it).
        hard: hard light (sun, spotlight, long shadows) — a longer, crisper cast shadow.
        leaves: scatter fallen leaves on the floor (autumn / leaves / foliage).
        plinth: stand the product on a low plinth (plinth / podium / pedestal).
        prefer: palette colours (sRGB) the background text names first, e.g. ``'backdrop in #1864EC'``.
    """

    setting: str = "studio"
    warmth: float = 0.0
    light_from: str = "top"
    hard: bool = False
    leaves: bool = False
    plinth: bool = False
    prefer: tuple[RGB, ...] = ()


def parse_look(job: Job) -> Look:
    """Read the look from ``job.prompt`` (pure, case-insensitive keyword rules):

    * setting — ``lifestyle``/``table``/``tabletop``/``wood``/``interior``/``shelf``/``counter`` in scene or
      background → ``'lifestyle'``; otherwise ``'studio'`` (``studio``, ``seamless``, ``sweep``, ``backdrop``).
    * warmth — ``autumn``/``fall``/``golden``/``sunset``/``warm``/``cosy``/``cozy`` in scene, mood or lighting:
      0.5 per distinct word, at most 1.
    * light_from — ``left``/``right`` in ``lighting``; else ``'top'``.
    * hard — ``sun``/``hard``/``spotlight``/``long shadow`` in ``lighting``; ``soft``/``softbox``/``diffuse`` wins.
    * leaves — ``leaf``/``leaves``/``foliage`` in scene or background; ``no props`` turns them off.
    * plinth — ``plinth``/``podium``/``pedestal`` in a subject's action.
    * prefer — the ``#RRGGBB`` colours written in ``background``, in order.
    """
    p = job.prompt
    scene_bg = f"{p.scene} {p.background}".lower()
    warm_text = f"{p.scene} {p.mood} {p.lighting} {p.background}".lower()
    light = p.lighting.lower()
    setting = "lifestyle" if re.search(r"lifestyle|\btable(top)?\b|\bwood(en)?\b|interior|\bshelf\b|counter", scene_bg) else "studio"
    warm_words = set(re.findall(r"autumn\w*|\bfall\b|golden|sunset|\bwarm\w*|\bcos[yi]\w*|\bcoz[yi]\w*", warm_text))
    warmth = min(1.0, 0.5 * len({w[:4] for w in warm_words}))
    m = re.search(r"\b(left|right)\b", light)
    hard = bool(re.search(r"\bsun\w*|\bhard\b|spotlight|long shadow", light)) and not re.search(r"\bsoft\w*|diffuse", light)
    leaves = bool(re.search(r"\bleaf\b|\bleaves\b|foliage", scene_bg)) and "no props" not in scene_bg
    plinth = any(re.search(r"plinth|podium|pedestal", s.action, re.I) for s in p.subjects)
    prefer = tuple(hex_to_rgb(h) for h in _HEX.findall(p.background))
    return Look(setting, warmth, m.group(1) if m else "top", hard, leaves, plinth, prefer)


# --------------------------------------------------------------------------- scene
@dataclass(frozen=True)
class Placement:
    """One cut-out in the output: index into ``job.references``, its role, the pasted box ``(x0, y0, x1, y1)``
    (pixels, exclusive ends, inside the layout's product box) and its scale (output px per packshot px, ≤ 1)."""

    ref: int
    role: str
    box: tuple[int, int, int, int]
    scale: float = 1.0
    crop: tuple[float, float, float, float] | None = None  # the part of the packshot pasted (load_cutout's CROP_INFO)


@dataclass(frozen=True)
class Scene:
    """What :meth:`CompositorGenerator.render` decided.

    Attributes:
        layout: the :class:`~brandflow.compose.layout.FrameLayout` (boxes for product, texts, logo).
        look: the :class:`Look` read from the prompt.
        surface: the background colour behind the product, ``(R, G, B)`` sRGB, and ``surface_name`` (which
            palette colour, tint or shade it is).
        separation: ΔE00 between ``surface`` and the product's nearest dominant colour (:func:`separation`).
        panel: the box filled with the exact brand primary behind price and CTA (``None`` when the surface
            is the primary itself).
        placements: the cut-outs; ``decorations``: boxes of props (leaves, plinth), never over another element.
        notes: what a reviewer should know (a packshot too small for its box).
    """

    layout: FrameLayout
    look: Look
    primary: RGB
    surface: RGB
    surface_name: str
    separation: float
    panel: tuple[int, int, int, int] | None
    placements: tuple[Placement, ...]
    decorations: tuple[tuple[int, int, int, int], ...] = ()
    notes: tuple[str, ...] = ()


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _lum(c: RGB) -> float:
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _dist(a: RGB, b: RGB) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def _is_warm(c: RGB) -> bool:
    """Red-orange-yellow hues with some chroma (HSV hue 0–60° or ≥ 330°, saturation ≥ 0.25)."""
    import colorsys

    h, s, _ = colorsys.rgb_to_hsv(*(v / 255 for v in c))
    return s >= 0.25 and (h <= 60 / 360 or h >= 330 / 360)


class CompositorOptions(PluginOptions):
    """``generator.options`` of the ``compositor`` backend."""

    shadow: bool = Field(default=True, description="soft shadow under the product, computed from its alpha")
    scale: float = Field(default=1.0, ge=0.5, le=1.2, description="multiplies the product size")


class CompositorGenerator(Generator):
    """Deterministic packshot compositor (the embedded default backend; CPU, no weights, free).

    Options (``generator.options``, :class:`CompositorOptions`):
        shadow (bool, default ``True``): soft shadow under the product, computed from its alpha.
        scale (float, default ``1.0``, range 0.5–1.2): multiplies the product size (never past the packshot's
            own pixels).

    Raises:
        GeneratorOptionsError: unknown option (with the nearest valid one) or out-of-range value (a ``ValueError``).
    """

    name = "compositor"
    Options = CompositorOptions
    pricing = "compositor: $0 (CPU, no API, no GPU)"
    #: Every reference packshot may be placed; the format's exact size is rendered.
    capabilities = Capabilities(batch_size=1, max_references=None, size_multiple=1)

    def __init__(self, options: dict[str, Any] | None = None):
        opts = self.parse_options(options or {})
        self.options, self.shadow, self.scale = opts, opts.shadow, opts.scale

    @classmethod
    def estimate(cls, options: Any, width: int, height: int, references: Any, budget: Any) -> JobCost:
        """$0: the compositor runs on the CPU without an API."""
        return JobCost(0.0, "free")

    @classmethod
    def price(cls, generated: GeneratedImage, budget: Any) -> JobCost:
        """$0 (or what ``generated`` reports, which the compositor never does)."""
        return super().price(generated, budget) if generated.cost is not None else JobCost(0.0, "free")

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
            :class:`GeneratedImage` with ``path=out_path``, size in pixels, the file's sha256, wall seconds,
            ``notes`` (e.g. a packshot with fewer pixels than the format's product box) and ``placed`` (each packshot
            pasted and its box, pixels: the only sources of letters in the image).

        Raises:
            ImageError: a reference packshot cannot be read.
            ValueError: the job has no primary_packshot/alternate_view reference.
        """
        t0 = time.perf_counter()
        image, scene = self.render(job)
        # a work file (compose re-encodes the creative): fast zlib, still deterministic; compose reads the pixels in memory
        _data, sha = write_work_png(out_path, image)
        # every letter in these pixels comes from the pasted packshots (the backdrop, shadows, panel and leaves have
        # none): recorded so that text QA reads each packshot once per run instead of every whole image
        placed = [PlacedImage(path=job.references[p.ref].path, sha256=job.references[p.ref].sha256, role=p.role,  # type: ignore[arg-type]
                              box=Box(x0=p.box[0], y0=p.box[1], x1=p.box[2], y1=p.box[3]), crop=p.crop) for p in scene.placements]
        return GeneratedImage(
            path=Path(out_path), width=image.width, height=image.height, sha256=sha, seconds=round(time.perf_counter() - t0, 4),
            notes=list(scene.notes), placed=placed,
        )

    def render(self, job: Job) -> tuple[Image.Image, Scene]:
        """Render ``job`` in memory: the ``RGB`` PIL image at :meth:`native_size` and the :class:`Scene` chosen.

        Raises:
            ImageError: a reference packshot cannot be read.
            ValueError: the job has no primary_packshot/alternate_view reference.
        """
        w, h = self.native_size(job.format.width, job.format.height)
        rng = np.random.default_rng(job.seed)
        look = parse_look(job)
        refs = [(i, r) for i, r in enumerate(job.references) if r.role in ("primary_packshot", "alternate_view")]
        refs.sort(key=lambda ir: (ir[1].role != "primary_packshot", ir[0]))
        if not refs:
            raise ValueError(f"job {job.job_id}: no primary_packshot or alternate_view reference to compose")
        fmt = job.format
        layout = frame_layout(w, h, text_free_top=fmt.text_free_top, text_free_bottom=fmt.text_free_bottom,
                              rows=bottom_rows(job.overlay, w, h), legal=bool(job.overlay.get("legal")))
        cutouts = [load_cutout(r.path, r.sha256) for _, r in refs[:2]]
        product_lab = _product_colours(str(refs[0][1].path), refs[0][1].sha256)

        pal = [hex_to_rgb(c) for c in job.prompt.color_palette] or [DEFAULT_PRIMARY]
        primary = pal[0]
        warm_table = look.warmth > 0 and look.setting == "lifestyle"
        surface_name, surface, sep = self._surface(pal, product_lab, look, rng, warm=False if warm_table else None)
        floor = None
        if warm_table:  # a warm tabletop under a wall in the brand's (cool) colours
            _, floor, floor_sep = self._surface(pal, product_lab, look, rng, warm=True)
            sep = min(sep, floor_sep)
        items, notes = self._place(layout, cutouts, look, rng, job)
        panel = self._panel_box(layout) if separation([(srgb_to_lab(np.array(primary, np.uint8)), 1.0)], surface) >= SEPARATION_MIN else None

        canvas = self._backdrop(w, h, surface, look, items, layout, rng, floor)
        decorations: list[tuple[int, int, int, int]] = []
        if look.plinth and len(items) == 1:
            decorations += self._plinth(canvas, items, layout, surface)
        light_dx = {"left": 1, "right": -1, "top": 0}[look.light_from]
        placements = []
        for ref_i, prod, x, y, k in items:
            if self.shadow:
                self._contact_shadow(canvas, prod, x, y, light_dx, look)
            canvas.paste(prod, (x, y), prod)
            placements.append(Placement(refs[ref_i][0], refs[ref_i][1].role, (x, y, x + prod.width, y + prod.height), round(k, 4),
                                        cutouts[ref_i].info.get(CROP_INFO)))
        if panel is not None:  # after the shadows: the panel stays the exact primary
            ImageDraw.Draw(canvas).rectangle([panel[0], panel[1], panel[2] - 1, panel[3] - 1], fill=primary)
        if look.leaves:
            taken = [p.box for p in placements] + decorations + [b for b in layout.boxes().values() if b != layout.product]
            if panel is not None:
                taken.append(panel)
            decorations += self._leaves(canvas, layout, taken, pal, rng, floor or surface)
        if look.warmth > 0:
            self._warm_light(canvas, look, panel, [(prod, (x, y)) for _, prod, x, y, _ in items])
        scene = Scene(layout, look, primary, surface, surface_name, round(sep, 2), panel, tuple(placements),
                      tuple(decorations), tuple(notes))
        return canvas, scene

    # ------------------------------------------------------------------ colours
    @staticmethod
    def _surface(pal: list[RGB], product_lab, look: Look, rng: np.random.Generator, warm: bool | None = None) -> tuple[str, RGB, float]:
        """A backdrop colour behind the product: the palette colour, tint or shade that separates best from the
        product (largest :func:`separation`). Mid and deep tones (Rec. 709 luma 35–235) and colours the
        background text names get a small bonus (+4 / +6 ΔE00), and so do colours white or near-black text
        reaches WCAG AA 4.5:1 on (+8), so the headline needs no plate. ``warm=True`` / ``False`` picks among warm /
        other candidates only (a warm look: an autumn tabletop under a brand-coloured wall) when any separates. The seed picks among candidates within
        ``SEPARATION_SLACK`` (ΔE00) of the best, so variants differ while every pick separates as well. The scores are
        memoised per input (:func:`_scored_surfaces`); the seed's draw runs on every call, in the same order as before."""
        scored = _scored_surfaces(tuple(pal), _lab_key(product_lab), tuple(look.prefer), warm)
        if not scored or max(t[1] for t in scored) < SEPARATION_MIN:
            if warm is not None:
                return CompositorGenerator._surface(pal, product_lab, look, rng)
            if not scored:
                return rgb_to_hex(pal[0]), pal[0], separation(product_lab, pal[0])
        best = scored[0][0]
        pool = [t for t in scored if t[0] >= best - SEPARATION_SLACK and t[1] >= SEPARATION_MIN] or list(scored[:1])
        pick = pool[int(rng.integers(len(pool)))]
        return pick[2], pick[3], pick[1]

    # ------------------------------------------------------------------ placement
    def _place(self, layout: FrameLayout, cutouts: list[Image.Image], look: Look, rng: np.random.Generator, job: Job):
        """Size and position the cut-outs in the product box: ``([(ref index, RGBA, x, y, scale)], notes)``.

        One view fills the box (92–97 % of the limiting side, by seed); a wide product in a tall box is shown
        with its alternate view below it at the *same* scale. Scale never exceeds 1 (packshot pixels); when that
        limits the size, a note says how many pixels the packshot would need."""
        x0, y0, x1, y1 = layout.product
        bw, bh = x1 - x0, y1 - y0
        if look.plinth:
            bh = int(bh * 0.82)
        fill = float(rng.uniform(0.92, 0.97)) * min(self.scale, 1.0)
        notes: list[str] = []
        views = [0]
        c0 = cutouts[0]
        # a product much wider than its box (a shoe in a square or a story) leaves rows empty: show its second
        # view below it, at the same scale
        stack = len(cutouts) > 1 and (c0.width / c0.height) > 1.3 * (bw / bh)
        if stack:
            views = [0, 1]
        # one scale for all views; vertical room shared with 8 % overlap between stacked views
        if stack:
            k_need = min(bw * fill / max(c.width for c in cutouts[:2]), bh * fill / (0.92 * cutouts[0].height + cutouts[1].height))
        else:
            k_need = min(bw * fill / c0.width, bh * fill / c0.height)
        k = min(k_need, 1.0)
        if k_need > 1.0 + 1e-6:
            notes.append(
                f"packshot {Path(job.references[0].path).name} is {c0.width}×{c0.height} px; the {layout.width}×{layout.height} "
                f"product box needs {round(c0.width * k_need)}×{round(c0.height * k_need)} px: shown at its own pixels "
                f"({100 * k / k_need:.0f} % of the box), not upscaled"
            )
        prods = [self._resize(cutouts[i], k) for i in views]
        items = []
        if stack:
            total = int(prods[0].height * 0.92) + prods[1].height
            top = y0 + (bh - total) // 2
            shift = int(bw * 0.08)
            x_a = x0 + (bw - prods[0].width) // 2 - shift // 2
            x_b = x0 + (bw - prods[1].width) // 2 + shift // 2
            x_a = min(max(x_a, x0), x1 - prods[0].width)
            x_b = min(max(x_b, x0), x1 - prods[1].width)
            items.append((0, prods[0], x_a, top, k))
            items.append((1, prods[1], x_b, min(top + int(prods[0].height * 0.92), y1 - prods[1].height), k))  # in front
        else:
            p = prods[0]
            jitter = float(rng.uniform(-0.03, 0.03)) * bw
            x = int(round(min(max(x0 + (bw - p.width) / 2 + jitter, x0), x1 - p.width)))
            # a little below the middle of the box: the space left is shared above and below, not one band
            y = y0 + int((bh - p.height) * 0.55)
            items.append((0, p, x, int(y), k))
        return items, notes

    @staticmethod
    def _resize(cut: Image.Image, k: float) -> Image.Image:
        size = (max(1, round(cut.width * k)), max(1, round(cut.height * k)))
        if size == cut.size:
            return cut
        return cut.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0 if k < 0.5 else None)

    @staticmethod
    def _panel_box(layout: FrameLayout) -> tuple[int, int, int, int]:
        """The brand-primary panel behind price and CTA, run out to the frame's edges (full bleed)."""
        w, h = layout.width, layout.height
        bx0, by0, bx1, by1 = layout.bottom
        pad = max(2, round(GAP * min(w, h)))
        if layout.kind in ("tall", "square"):
            return 0, by0 - pad, w, h
        if layout.kind == "landscape":
            return bx0 - pad, 0, w, h
        return bx0 - pad, 0, w, h  # banner: the right-hand CTA column

    # ------------------------------------------------------------------ backdrop
    def _backdrop(self, w: int, h: int, surface: RGB, look: Look, items, layout: FrameLayout, rng, floor: RGB | None = None) -> Image.Image:
        """The wall and floor in the surface colour, lit by the look: a soft light pool from the light side
        (+14 % toward white at its centre, a gentle falloff to −10 % toward black at the far corners); a floor
        one shade darker from the product's base down — a seamless sweep (smooth 6 % of the height) in a studio,
        a crisp tabletop edge in a lifestyle setting; ``floor`` (a warm tabletop) replaces that shade when given."""
        base_y = max(it[3] + it[1].height for it in items)
        top_y = min(it[3] for it in items)
        horizon = int(base_y - 0.22 * (base_y - top_y)) if look.setting == "lifestyle" else int(base_y - 0.12 * (base_y - top_y))
        q = 4  # computed at 1/4 resolution (smooth anyway), scaled up
        sw, sh = max(1, w // q), max(1, h // q)
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        lx = {"left": 0.15, "right": 0.85, "top": 0.5}[look.light_from] * sw
        ly = 0.3 * sh
        d = np.sqrt(((xx - lx) / max(sw, sh)) ** 2 + ((yy - ly) / max(sw, sh)) ** 2)
        light = np.clip(0.14 - 0.3 * d, -0.10, 0.14)  # + toward white, − toward black
        floor_dark = 0.16 if look.setting == "lifestyle" else 0.09
        hz = horizon / q
        soft = 1.0 if look.setting == "lifestyle" else max(1.0, 0.06 * sh)
        t = np.clip((yy - hz) / soft, 0.0, 1.0)
        light = light - floor_dark * t
        base = np.array(surface, np.float32)
        if floor is not None:
            light = light + floor_dark * t  # the tabletop has its own colour, lit like the wall
            base = base + (np.array(floor, np.float32) - base) * t[..., None]
        up = base + (255 - base) * np.clip(light, 0, None)[..., None]
        down = base * (1 + np.clip(light, None, 0))[..., None]
        arr = np.where(light[..., None] >= 0, up, down)
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB").resize((w, h), Image.Resampling.BILINEAR)
        if look.setting == "lifestyle":  # a thin highlight on the table's front edge
            ImageDraw.Draw(img).line([(0, horizon), (w, horizon)], fill=_mix(floor or surface, WHITE, 0.12), width=max(1, h // 400))
        return img

    def _warm_light(self, canvas: Image.Image, look: Look, panel, products: Sequence[tuple[Image.Image, tuple[int, int]]] = ()) -> None:
        """Golden light: a warm (#FFB057) screen from the light side, up to 22 % × warmth, never over the
        brand panel (its primary stays exact for the colour check) nor over the ``products`` (RGBA cut-outs at
        their top-left corners, pixels): a shopper must see the product's own colours — a black frame tinted
        22 % orange reads brown — and the identity check compares them with the packshot."""
        w, h = canvas.size
        q = 4
        sw, sh = max(1, w // q), max(1, h // q)
        xx = np.linspace(0, 1, sw, dtype=np.float32)[None, :].repeat(sh, 0)
        ramp = {"left": 1 - xx, "right": xx, "top": np.linspace(1, 0, sh, dtype=np.float32)[:, None].repeat(sw, 1)}[look.light_from]
        alpha = (np.clip(ramp, 0, 1) ** 1.5 * 0.22 * look.warmth * 255).astype(np.uint8)
        mask = Image.fromarray(alpha, "L").resize((w, h), Image.Resampling.BILINEAR)
        if panel is not None:
            ImageDraw.Draw(mask).rectangle([panel[0], panel[1], panel[2] - 1, panel[3] - 1], fill=0)
        if products:
            cover = Image.new("L", (w, h), 0)
            for prod, (x, y) in products:
                cover.paste(prod.getchannel("A"), (x, y))
            mask = ImageChops.multiply(mask, ImageChops.invert(cover))
        canvas.paste((255, 176, 87), (0, 0), mask)

    def _plinth(self, canvas: Image.Image, items, layout: FrameLayout, surface: RGB) -> list[tuple[int, int, int, int]]:
        """A low cylinder (one shade of the surface) under the single product, inside the product box; the
        product's base rests on the middle of its top ellipse. Moves the product up to stand on it."""
        ref_i, prod, x, y, k = items[0]
        zx0, zy0, zx1, zy1 = layout.product
        pw = int(min(zx1 - zx0, max(prod.width * 1.25, (zx1 - zx0) * 0.35)))
        top_h = int(pw * 0.14)
        ph = max(top_h * 2, int((zy1 - zy0) * 0.16))
        px0 = int(min(max(x + prod.width / 2 - pw / 2, zx0), zx1 - pw))
        py1 = zy1
        py0 = py1 - ph
        colour = _mix(surface, BLACK, 0.3) if _lum(surface) > 90 else _mix(surface, WHITE, 0.25)
        draw = ImageDraw.Draw(canvas)
        draw.rectangle([px0, py0 + top_h // 2, px0 + pw - 1, py1 - top_h // 2], fill=colour)
        draw.ellipse([px0, py1 - top_h, px0 + pw - 1, py1 - 1], fill=colour)
        draw.ellipse([px0, py0, px0 + pw - 1, py0 + top_h], fill=_mix(colour, WHITE, 0.14))
        items[0] = (ref_i, prod, x, int(py0 + top_h * 0.55 - prod.height), k)
        return [(px0, py0, px0 + pw, py1)]

    def _leaves(self, canvas: Image.Image, layout: FrameLayout, taken, pal: list[RGB], rng, under: RGB) -> list[tuple[int, int, int, int]]:
        """A few fallen leaves (rotated ellipses with a midrib) on the floor beside the product, in warm
        palette colours that stand apart from the floor ``under`` (RGB distance ≥ 60; else rust/ochre/chestnut),
        each placed only where its box touches no other element."""
        warm = [c for c in pal if _is_warm(c) and _dist(c, under) >= 60]
        warm = warm or [c for c in ((181, 83, 42), (217, 150, 43), (140, 60, 30)) if _dist(c, under) >= 60] or [_mix(under, BLACK, 0.4)]
        x0, y0, x1, y1 = layout.product
        s = min(layout.width, layout.height)
        out: list[tuple[int, int, int, int]] = []
        pad = max(2, round(0.01 * s))
        for _ in range(40):
            if len(out) >= 4:
                break
            r = int(s * rng.uniform(0.035, 0.06))
            cx = int(rng.uniform(x0 + r, x1 - r))
            cy = int(rng.uniform(y0 + (y1 - y0) * 0.55, y1 - r))
            box = (cx - r - pad, cy - r - pad, cx + r + pad, cy + r + pad)
            if box[0] < x0 or box[2] > x1 or box[1] < y0 or box[3] > y1:
                continue
            if any(boxes_overlap(box, b) for b in list(taken) + out):
                continue
            leaf = Image.new("RGBA", (2 * r, 2 * r), (0, 0, 0, 0))
            d = ImageDraw.Draw(leaf)
            c = warm[int(rng.integers(len(warm)))]
            d.ellipse([0, int(r * 0.55), 2 * r - 1, int(r * 1.45)], fill=c + (255,))
            d.line([(int(r * 0.1), r), (int(r * 1.9), r)], fill=_mix(c, BLACK, 0.3) + (255,), width=max(1, r // 10))
            leaf = leaf.rotate(float(rng.uniform(0, 180)), Image.Resampling.BICUBIC)
            canvas.paste(leaf, (cx - r, cy - r), leaf)
            out.append((cx - r, cy - r, cx + r, cy + r))
        return out

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

    def _contact_shadow(self, canvas: Image.Image, prod: Image.Image, x: int, y: int, light_dx: int, look: Look) -> None:
        """A soft contact shadow under a standing product: its solid alpha (> 160) squashed to 1/10 of its
        height (hard light: 1/5, and crisper), blurred (σ ≈ 1/3 of that height), 40 % black, under the
        product's base and pushed away from the light. Blurred at 1/4 resolution for speed."""
        solid = prod.getchannel("A").point(lambda a: 255 if a > SOLID_ALPHA else 0)
        box = solid.getbbox()
        if not box:
            return
        sx0, sy0, sx1, sy1 = box
        sw, sh = sx1 - sx0, max(8, (sy1 - sy0) // (5 if look.hard else 10))
        flat = solid.crop(box).resize((max(1, sw // 4), max(1, sh // 4)), Image.Resampling.BOX)
        mask, pad = self._soft_mask(flat, 0.45 if look.hard else 0.4, max(1.0, flat.height / (5 if look.hard else 3)))
        dx = light_dx * sw // (8 if look.hard else 25)
        canvas.paste((0, 0, 0), (x + sx0 - pad + dx, y + sy1 - (sh * 2) // 3 - pad), mask)
