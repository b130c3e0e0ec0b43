"""Format QA: the file is exactly what the channel format asks — pixel size, container type, mode, bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from brandflow.qa.base import CheckContext
from brandflow.records import CheckResult

#: PIL format name → brandflow ``FileType``.
_PIL_TO_TYPE = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
#: Modes accepted for a channel creative: 8-bit RGB(A) (what every ad platform takes). Palette, greyscale,
#: 16-bit and CMYK files are refused: browsers and ad servers render them inconsistently.
ACCEPTED_MODES = ("RGB", "RGBA")


def read_header(path: str | Path) -> dict[str, object]:
    """Read an image file's header only (no pixel decode).

    Args:
        path: the image file.

    Returns:
        ``{"file_type": 'png'|'jpeg'|'webp'|<PIL format, lowercased>, "mode": PIL mode, "width": px,
        "height": px, "bytes": file size, "exif_orientation": 1–8}``; width and height are as displayed
        (swapped for EXIF orientations 5–8, as :func:`brandflow.imageio.open_image` decodes them).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an image PIL can identify.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        with Image.open(path) as im:
            fmt = im.format or ""
            if fmt == "PNG":  # PngImageFile.getexif() decodes the whole image; read a pre-IDAT eXIf chunk only
                exif = Image.Exif()
                if im.info.get("exif"):
                    exif.load(im.info["exif"])
            else:
                exif = im.getexif()
            orientation = int(exif.get(0x0112, 1) or 1)
            w, h = (im.height, im.width) if orientation in (5, 6, 7, 8) else (im.width, im.height)
            return {
                "file_type": _PIL_TO_TYPE.get(fmt, fmt.lower()),
                "mode": im.mode,
                "width": w,
                "height": h,
                "bytes": size,
                "exif_orientation": orientation,
            }
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file PIL can identify") from None


class FormatCheck:
    """Exact channel format: width × height in pixels, file type (container, from the header, not the
    extension), 8-bit RGB/RGBA mode, and file size ≤ ``max_bytes``.

    Thresholds are exact (DESIGN.md QA table): any mismatch fails. With ``ctx.format`` ``None`` the
    check passes and reports what it measured. Also fails when the decoded ``image`` ``(H, W, 3)`` does
    not have the file's size (the pixels checked elsewhere are not this file's).

    ``run(image, ctx)``: ``image`` is ``(H, W, 3) uint8`` sRGB; ``ctx.path`` is read for its header and size.
    A missing or unreadable file is a ``fail`` with the reason (not an exception).
    """

    name = "format"

    def run(self, image: np.ndarray, ctx: CheckContext) -> CheckResult:
        fmt = ctx.format
        thresholds = (
            {"width": fmt.width, "height": fmt.height, "file_type": fmt.file_type, "max_bytes": fmt.max_bytes,
             "modes": list(ACCEPTED_MODES)}
            if fmt else {}
        )
        try:
            header = read_header(ctx.path)
        except (OSError, ValueError) as e:
            return CheckResult(check=self.name, verdict="fail", thresholds=thresholds, reasons=[f"cannot read file: {e}"])
        h, w = image.shape[:2]
        metrics = {**header, "aspect": round(header["width"] / header["height"], 4)}
        reasons = []
        if (w, h) != (header["width"], header["height"]):
            reasons.append(f"decoded pixels are {w}×{h} but the file header says {header['width']}×{header['height']}")
        if fmt is not None:
            if (header["width"], header["height"]) != (fmt.width, fmt.height):
                reasons.append(f"size {header['width']}×{header['height']} px, format {fmt.name!r} asks {fmt.width}×{fmt.height}")
            if header["file_type"] != fmt.file_type:
                reasons.append(f"file type {header['file_type']}, format {fmt.name!r} asks {fmt.file_type}")
            if header["mode"] not in ACCEPTED_MODES:
                reasons.append(f"mode {header['mode']}, expected one of {', '.join(ACCEPTED_MODES)}")
            if fmt.max_bytes is not None and header["bytes"] > fmt.max_bytes:
                reasons.append(f"{header['bytes']:,} bytes, over the format's max_bytes {fmt.max_bytes:,}")
        return CheckResult(
            check=self.name, verdict="fail" if reasons else "pass", metrics=metrics, thresholds=thresholds, reasons=reasons
        )
