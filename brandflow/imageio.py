"""Reading and writing images safely: one place that turns any file into known pixels or a clear error.

Packshots and creatives come from outside (feeds, agencies), so every decode goes through here:
a pixel-count limit against decompression bombs, every mode (P, L, LA, CMYK, I;16, RGBA …)
converted explicitly, and every failure raised as :class:`~brandflow.errors.ImageError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from threading import Lock

import numpy as np
from cachetools import LRUCache
from PIL import Image, ImageOps

from brandflow.errors import ImageError
from brandflow.once import OncePerKey
from brandflow.safenames import regular_file_problem, write_atomic as _write_atomic

#: Largest image decoded, in pixels (about 8K × 8K). Pillow's own default warns at 89 Mpx and
#: refuses at 179 Mpx; a 20000 × 20000 PNG (400 Mpx) is refused here before decoding.
MAX_PIXELS = 64_000_000


@contextmanager
def _guarded_open(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """``Image.open(path)`` with the pixel-limit guard; every failure becomes one :class:`ImageError`.
    A FIFO, device or socket is refused from its ``stat`` alone, never opened."""
    problem = regular_file_problem(path)
    if problem == "file not found":
        raise ImageError(f"{path}: file not found")
    if problem is not None:
        raise ImageError(f"{path}: {problem}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageError(
                        f"{path}: {w}×{h} px is over the {max_pixels:,} pixel limit (decompression-bomb guard); "
                        "downscale the image"
                    )
                yield im
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{path}: refused as a decompression bomb ({e}); downscale the image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image ({e}); re-export it as PNG or JPEG") from None


#: Longest side, in pixels, of an *input* image (packshot, reference, logo) once loaded by the stages that
#: pass ``max_side``: larger ones are downscaled right after decoding, before any other copy is made, so a
#: 62-megapixel packshot costs its decode (~250 MB RGBA) once, not gigabytes of float working copies
#: (bench/memory.py). 4096 px covers every format (≤ 8192 px) at the packshot's share of the canvas.
INPUT_MAX_SIDE = 4096


def open_image(path: str | Path, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> Image.Image:
    """Open and fully decode an image file, applying its EXIF orientation.

    Args:
        path: image file (PNG, JPEG, WebP, TIFF …).
        max_pixels: refuse images with more pixels than this (decompression-bomb guard).
        max_side: when set, an image whose longer side is over this many pixels is downscaled to it while
            loading: JPEG decodes at 1/2, 1/4 or 1/8 scale (``draft``), others are box-reduced by an integer
            factor right after decoding and then resized (Lanczos) — before the EXIF rotation copy.

    Returns:
        A loaded ``PIL.Image`` in the file's own mode.

    Raises:
        ImageError: missing, unreadable, truncated/corrupt, or larger than ``max_pixels``.
    """
    with _guarded_open(Path(path), max_pixels) as im:
        if max_side and max(im.size) > max_side and im.format == "JPEG":
            im.draft(None, (max_side, max_side))  # decodes at the smallest DCT scale still ≥ max_side
        im.load()
        if max_side and max(im.size) > max_side:
            im = _downscale(im, max_side)
        return ImageOps.exif_transpose(im)


def _downscale(im: Image.Image, max_side: int) -> Image.Image:
    """``im`` with its longer side at most ``max_side`` px: integer box reduce (cheap, no float copy), then Lanczos."""
    factor = max(im.size) // max_side
    if factor >= 2:
        try:
            im = im.reduce(factor)
        except ValueError:  # a mode reduce() does not take (P, 1, I;16): resize does the whole job
            pass
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    return im


def verify_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> None:
    """Check cheaply that ``path`` is a readable image, without decoding its pixels when possible.

    PNG: header, pixel limit, and :meth:`PIL.Image.Image.verify` (walks every chunk and checks its
    CRC, so truncation and corruption are caught; ~0.2 ms for a 576 px packshot). Other formats
    (JPEG, WebP, TIFF …) have no such check in Pillow and are fully decoded via :func:`open_image`.

    That decode is kept for :func:`load_rgba` only in the decode cache's *free* room (it never evicts an entry): a feed
    is checked whole before any job runs, so a feed larger than the cache (the example's 47 WebP packshots at 1080² are
    219 MB of RGBA against 64 MB) would otherwise evict its own first packshots — the ones the first jobs read — to
    keep its last. The first packshots that fit are then read by the first jobs without a second decode; the cache's
    bound, and so the peak memory, is unchanged.

    Raises:
        ImageError: missing, not an image, truncated/corrupt, or over ``max_pixels``.
    """
    with _guarded_open(Path(path), max_pixels) as im:
        if im.format == "PNG":
            im.verify()
            return
    im = open_image(path, max_pixels)
    key = _cache_key(Path(path), max_pixels, None)
    if key is not None:
        try:
            arr = np.asarray(to_rgba(im))
        except (OSError, ValueError):  # a mode to_rgba cannot convert: load_rgba will say so when a stage reads it
            return
        _decoded.offer(key, arr)


def to_rgba(im: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit RGBA (16-bit and float greys are scaled, CMYK converted, palette expanded)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("PA")
    return im.convert("RGBA")


#: Bytes of decoded input images (packshots, logos) kept by :func:`load_rgba`: a job's stages (generator, identity,
#: forbidden words) each read the same packshot at :data:`INPUT_MAX_SIDE`, and a WebP/JPEG 1080² decode costs
#: 20–40 ms each time. 64 MB holds thirteen 1080² RGBA packshots, several products' worth for the pool's workers.
DECODED_CACHE_BYTES = 64 * 2**20
#: Decodes, each made once however many threads ask for it at once (the job pool's workers often start on the same
#: product's creatives together); one over a quarter of the cache is handed to its waiters but not kept (a huge input
#: would evict everything else).
_decoded: OncePerKey[np.ndarray] = OncePerKey(cache=LRUCache(maxsize=DECODED_CACHE_BYTES, getsizeof=lambda arr: arr.nbytes),
                                              keep=lambda arr: arr.nbytes <= DECODED_CACHE_BYTES // 4)
#: ``(w, h)`` pixels of files read by :func:`load_rgba`, from their header, keyed by the file's identity (resolved path,
#: inode, size, mtime): a few tuples, so that a cached read asks the file system for a ``stat`` only.
_header_sizes: LRUCache = LRUCache(maxsize=4096)
_header_lock = Lock()


def _cache_key(path: Path, max_pixels: int, max_side: int | None) -> tuple | None:
    """The decode cache's key of ``path`` read with these arguments, or ``None`` when the file cannot be ``stat``-ed
    (:func:`open_image` then names the problem).

    ``(resolved path, inode, size, mtime ns, max_pixels, max_side)``, with ``max_side`` as ``None`` when the image
    already fits in it (longer side ≤ ``max_side`` px, read from the header, not decoded): :func:`open_image` then
    returns the same pixels as without it, so a 1080² packshot read at 4096 (the cut-out) and at 1536 (label OCR) is
    one entry and one decode. The EXIF rotation does not change the longer side, so the header's size decides."""
    try:
        st = path.stat()
        ident = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    except (OSError, RuntimeError):  # missing, unreadable, a symlink loop
        return None
    if max_side is not None:
        with _header_lock:
            size = _header_sizes.get(ident)
        if size is None:
            try:
                with _guarded_open(path, max_pixels) as im:  # header only; a FIFO or device is refused unopened
                    size = im.size
            except ImageError:  # open_image raises it again, with the key as asked
                size = None
            if size is not None:
                with _header_lock:
                    _header_sizes[ident] = size
        if size is not None and max(size) <= max_side:
            max_side = None
    return ident + (max_pixels, max_side)


def load_rgba(path: str | Path, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> np.ndarray:
    """Decode ``path`` as an ``(H, W, 4) uint8`` sRGB + alpha array (opaque alpha where the file has none),
    its longer side downscaled to ``max_side`` px when given (see :func:`open_image`).

    Decodes are kept in a process-wide LRU (``cachetools``) bounded by :data:`DECODED_CACHE_BYTES` and keyed by the
    file's resolved path, inode, size and mtime with the arguments (``max_side`` counted only when it downscales:
    :func:`_cache_key`), so a file rewritten in place is decoded again. Threads asking for the same key at once
    decode it once: the first decodes, the others wait for its result (the job pool's workers often start on the
    same product's creatives together).

    Returns:
        ``(H, W, 4) uint8``, read-only (shared with other callers: copy it before modifying).

    Raises:
        ImageError: see :func:`open_image`.
    """
    path = Path(path)
    key = _cache_key(path, max_pixels, max_side)
    decode = lambda: np.asarray(to_rgba(open_image(path, max_pixels, max_side)))  # noqa: E731
    return decode() if key is None else _decoded.get(key, decode)[0]


def flatten_on_white(rgba: np.ndarray) -> np.ndarray:
    """An ``(H, W, 4) uint8`` sRGB + alpha image composited onto white (straight alpha, in 8-bit sRGB values as
    OCR sees them, not linear light): ``(H, W, 3) uint8`` sRGB. An ``(H, W, 3)`` image is returned as it is."""
    if rgba.shape[2] == 3:
        return np.ascontiguousarray(rgba)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.clip(rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)


def load_rgb(
    path: str | Path, max_pixels: int = MAX_PIXELS, matte: tuple[int, int, int] = (255, 255, 255), max_side: int | None = None
) -> np.ndarray:
    """Decode ``path`` as an ``(H, W, 3) uint8`` sRGB array; transparency is flattened onto ``matte``; the longer
    side downscaled to ``max_side`` px when given (see :func:`open_image`).

    Raises:
        ImageError: see :func:`open_image`.
    """
    rgba = to_rgba(open_image(path, max_pixels, max_side))
    if rgba.getextrema()[3][0] == 255:
        return np.asarray(rgba.convert("RGB"))
    base = Image.new("RGBA", rgba.size, matte + (255,))
    return np.asarray(Image.alpha_composite(base, rgba).convert("RGB"))


# --------------------------------------------------------------------------- pixels handed on in memory
#: Just-written lossless files whose pixels the next stage of the same job will read: ``(path, sha256) → (H, W, 3)
#: uint8``. Consumed on first read; at most :data:`_HANDOFF_SIZE` kept (~6 MB each at 1080×1920).
_handoff: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_handoff_lock = Lock()
_HANDOFF_SIZE = 8


def hand_on(path: str | Path, sha256: str, image: Image.Image, file_type: str) -> None:
    """Keep the pixels of a file just written at ``path`` (content ``sha256``) for :func:`load_rgb_of`.

    Only a lossless ``png`` of an ``RGB`` image is kept: decoding it gives exactly these pixels, so the reader
    sees what is on disk without decoding it. A lossy file (JPEG, WebP) is never kept, because QA must read
    the delivered bytes' pixels, compression artefacts included."""
    if file_type != "png" or image.mode != "RGB":
        return
    arr = np.asarray(image)
    with _handoff_lock:
        _handoff[(str(path), sha256)] = arr
        while len(_handoff) > _HANDOFF_SIZE:
            _handoff.popitem(last=False)


def encode_work_png(image: Image.Image) -> bytes:
    """PNG bytes of a work file (pixels exact; read back only to resume a run or to audit it): an ``RGB``, ``RGBA``
    or ``L`` image through OpenCV's libpng with every row's filter fixed to Sub and zlib's run-length strategy
    (``Z_RLE``) at :data:`WORK_PNG_LEVEL`; other modes through Pillow at that level. Pillow's encoder tries every PNG
    filter on every row and keeps the best, which costs more than the compression itself; one fixed filter takes about half the
    CPU: 30 → 16 ms/MP on the Saleor catalogue's images (files +0.1 %), 30 → 17 on the example's generated backdrops
    (files +19 %) (``bench/png.py``, work files, 5 alternated rounds), the trade the fast PNG encoders make (fpng, fpnge).
    No metadata: work files are never delivered."""
    n = {"RGB": 3, "RGBA": 4, "L": 1}.get(image.mode)
    if n is None:
        return encode(image, "png", png_level=WORK_PNG_LEVEL)
    import cv2  # lazily: imageio is imported by light commands that never write a work file

    arr = np.asarray(image)
    if n > 1:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR if n == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, WORK_PNG_LEVEL,
                                         cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
                                         cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB])
    if not ok:  # pragma: no cover - libpng refused an in-memory uint8 array
        return encode(image, "png", png_level=WORK_PNG_LEVEL)
    return buf.tobytes()


def write_work_png(path: str | Path, image: Image.Image) -> tuple[bytes, str]:
    """Write a stage's work file: ``image`` as PNG by :func:`encode_work_png` (fast; pixels exact), atomically, its
    pixels handed on to the next stage of this job (:func:`hand_on`), so that stage decodes nothing.

    Returns:
        ``(data, sha256)``: the bytes written and their hex sha256.
    """
    data = encode_work_png(image)
    write_atomic(Path(path), data)
    sha = hashlib.sha256(data).hexdigest()
    hand_on(path, sha, image, "png")
    return data, sha


def load_rgb_of(path: str | Path, sha256: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """``load_rgb(path)`` for a file whose content is ``sha256`` (from its stage record): the pixels handed on by
    :func:`hand_on` when the writer was this process, else decoded from the file.

    Returns:
        ``(H, W, 3) uint8`` sRGB, read-only when handed on (do not modify it).

    Raises:
        ImageError: see :func:`open_image` (decoding only).
    """
    with _handoff_lock:
        arr = _handoff.pop((str(path), sha256), None)
    return arr if arr is not None else load_rgb(path, max_pixels)


#: zlib level of PNG files a person or channel receives (the published creative): zlib's default.
PUBLISHED_PNG_LEVEL = 6
#: zlib strategy of published PNG files: run-length matches only (``Z_RLE``), after PNG's per-row filters. Against
#: Pillow's default: 28 against 77 ms/MP on the example's 128 creatives, files 4.9 % larger; 31 against 88 ms/MP on
#: the Saleor catalogue's 47 images at 1080 px, 5.7 % larger (bench/png.py, 5 alternated rounds, medians, process
#: CPU, Pillow 12.3 / zlib-ng). The same trade as fpng/fpnge's (Geelnard; Wassenberg): a few per cent of bytes for
#: several times the speed. A channel's byte limit the RLE file misses gets Pillow's default at level 9
#: (:func:`encode_within`).
PUBLISHED_PNG_STRATEGY = 3  # zlib.Z_RLE
#: zlib level of PNG work files (a generator's output, which compose reads in memory and re-encodes, and the fallback
#: encoder's level for modes :func:`encode_work_png` hands to Pillow): level 1 encodes a 1080² creative in ~46 ms
#: against ~92 ms at 6, for a file ~13 % larger (measured on the example's creatives).
WORK_PNG_LEVEL = 1


def encode(image: Image.Image, file_type: str, quality: int = 90, png_level: int = PUBLISHED_PNG_LEVEL,
           png_strategy: int | None = None) -> bytes:
    """Encode ``image`` as ``'png' | 'jpeg' | 'webp'`` bytes, deterministically (no timestamps); PNG at zlib level
    ``png_level`` (0–9: :data:`PUBLISHED_PNG_LEVEL` for delivered files, :data:`WORK_PNG_LEVEL` for work files) and
    zlib strategy ``png_strategy`` (``None``: Pillow's own choice, which is not zlib's ``0``; 1 filtered, 2 Huffman
    only, 3 RLE, 4 fixed: :data:`PUBLISHED_PNG_STRATEGY`).

    Raises:
        ValueError: unknown ``file_type``.
    """
    buf = io.BytesIO()
    if file_type == "png":
        strategy = {} if png_strategy is None else {"compress_type": png_strategy}
        image.save(buf, "PNG", optimize=False, compress_level=png_level, **strategy)
    elif file_type == "jpeg":
        image.convert("RGB").save(buf, "JPEG", quality=quality, subsampling=0)
    elif file_type == "webp":
        image.save(buf, "WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"unknown file type {file_type!r}: expected png, jpeg or webp")
    return buf.getvalue()


#: Lowest JPEG / WebP quality :func:`encode_within` goes down to (below ~40 blocking shows on product photos).
MIN_QUALITY = 40


def encode_within(
    image: Image.Image, file_type: str, max_bytes: int | None = None, reserve: int = 0, quality: int = 90
) -> tuple[bytes, int]:
    """Encode ``image`` so that the file plus ``reserve`` bytes fits ``max_bytes``: the highest JPEG / WebP
    quality in ``MIN_QUALITY … quality`` that fits, by binary search (6–7 encodes). libjpeg's file size grows
    with quality, so for JPEG it is the highest quality that fits; libwebp's is not strictly monotonic, so for WebP
    it is a quality that fits, at most a few steps below the highest.

    Args:
        image: the creative (RGB or RGBA PIL image).
        file_type: ``'png' | 'jpeg' | 'webp'``; PNG is lossless: encoded with :data:`PUBLISHED_PNG_STRATEGY`, and
            when that misses the bound, once more with Pillow's default at level 9 (the smaller file is kept).
        max_bytes: the format's upper bound on the published file, bytes; ``None`` = no bound (quality as given).
        reserve: bytes kept free for what is added after encoding (provenance: the XMP packet, a C2PA manifest).
        quality: the quality used when it fits, 1–100.

    Returns:
        ``(data, quality)``: the encoded bytes and the quality used (``quality`` for PNG). When even
        ``MIN_QUALITY`` does not fit, its encoding is returned, and the format check reports the excess.

    Raises:
        ValueError: unknown ``file_type``.
    """
    if file_type == "png":
        data = encode(image, "png", png_strategy=PUBLISHED_PNG_STRATEGY)
        if max_bytes is not None and len(data) + reserve > max_bytes:
            data = min(data, encode(image, "png", png_level=9), key=len)
        return data, quality
    data = encode(image, file_type, quality)
    if max_bytes is None or len(data) + reserve <= max_bytes:
        return data, quality
    lo, hi, best = MIN_QUALITY, quality - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = encode(image, file_type, mid)
        if len(candidate) + reserve <= max_bytes:
            best, lo = (candidate, mid), mid + 1
        else:
            hi = mid - 1
    return best if best is not None else (encode(image, file_type, MIN_QUALITY), MIN_QUALITY)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a writer-private temporary file and rename, so a crash never leaves
    half a file and two writers never share a temporary file (:func:`brandflow.safenames.write_atomic`)."""
    _write_atomic(path, data)


# --------------------------------------------------------------------------- review thumbnails
#: Long side of the review report's thumbnails, pixels: a story's 62 px headline stays ~20 px tall, readable.
THUMB_PX = 360


def thumbnail_path(path: str | Path, sha256: str, long_side: int = THUMB_PX) -> Path:
    """Where the thumbnail of the creative at ``path`` (content ``sha256``) is kept: beside it, as
    ``.thumb-<sha256[:16]>-<long_side>.jpg`` (a re-composed creative gets a new name, never a stale thumbnail)."""
    return Path(path).with_name(f".thumb-{sha256[:16]}-{long_side}.jpg")


def thumbnail_of(image: Image.Image, long_side: int = THUMB_PX) -> bytes:
    """JPEG bytes (quality 80) of ``image`` scaled to ``long_side`` pixels on its long side, aspect kept: an integer
    box reduce, then Pillow's ``thumbnail`` (bicubic-family resampling, Pillow's default). ``image`` is an *opened*
    image in any mode (a JPEG not yet loaded decodes at a reduced DCT scale, ``draft``)."""
    image.draft("RGB", (long_side, long_side))
    im = image.convert("RGB")
    factor = max(1, max(im.size) // long_side)
    im = im.reduce(factor) if factor > 1 else im
    im.thumbnail((long_side, long_side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80, optimize=True)
    return buf.getvalue()


def write_thumbnail(path: str | Path, sha256: str, image: Image.Image, data: bytes, file_type: str) -> None:
    """Keep the review thumbnail of a creative just written at ``path`` (bytes ``data``, content ``sha256``) from the
    pixels in memory, so the report decodes no creative: ``image`` itself for lossless PNG (its pixels are the
    file's), else ``data`` decoded (a JPEG/WebP thumbnail shows the delivered artefacts). Same bytes as
    :func:`thumbnail_of` of the file. A failure to write is ignored: the report makes the thumbnail itself."""
    src = image if file_type == "png" else Image.open(io.BytesIO(data))
    try:
        write_atomic(thumbnail_path(path, sha256), thumbnail_of(src))
    except OSError:
        pass
