"""Provenance marking: an XMP packet with the IPTC Digital Source Type embedded in every published creative,
and optionally a signed C2PA manifest.

What is written (an Adobe XMP packet, XMP Specification Part 1 §7.3 packet wrapper, RDF/XML):

* ``Iptc4xmpExt:DigitalSourceType`` — a term of the IPTC Digital Source Type vocabulary
  (http://cv.iptc.org/newscodes/digitalsourcetype/), as the IPTC Photo Metadata Standard 2025.1 defines the
  property and the IPTC guidance on AI-generated images recommends;
* ``Iptc4xmpExt:AISystemUsed`` — the generator, for images a trained model made (IPTC Photo Metadata 2025.1);
* ``xmp:CreatorTool`` = ``brandflow``;
* ``brandflow:Campaign``, ``brandflow:JobId``, ``brandflow:ProductId``, ``brandflow:Backend`` in brandflow's own
  namespace :data:`BRANDFLOW_NS`.

Where it goes, without re-encoding a single pixel (the file's bytes are rewritten at the container level):
PNG — an ``iTXt`` chunk with keyword ``XML:com.adobe.xmp`` right after ``IHDR`` (XMP Specification Part 3
§1.1.5); JPEG — an ``APP1`` segment starting ``http://ns.adobe.com/xap/1.0/\\0`` after the JFIF/Exif segments
(Part 3 §1.1.3); WebP — an ``XMP `` chunk with the XMP flag set in ``VP8X`` (Google's WebP Container
Specification, "Extended File Format"). An existing XMP packet is replaced.

Why: article 50(2) of the EU AI Act (Regulation (EU) 2024/1689), applying from 2 August 2026, asks providers of
systems that generate synthetic images to mark the outputs in a machine-readable format and detectable as
artificially generated. Marking is on by default; ``mark(..., enabled=False)`` switches it off.

The packet is deterministic (no timestamps, no random ids): the same creative and job always give the same
bytes, so a re-run publishes nothing twice. Marking changes the file, so the sha256 to publish is that of the
*marked* file, which :func:`mark` returns.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from brandflow.errors import BrandflowError, ImageError, MissingDependencyError
from brandflow.records import ModelLicence, sha256_file
from brandflow.safenames import atomic_temp

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: Made by a trained model (a diffusion or other generative model) with no other elements.
TRAINED_ALGORITHMIC_MEDIA = DST + "trainedAlgorithmicMedia"
#: Trained-model output composited with other media (IPTC: "the compositing of trained algorithmic media with
#: some other media, such as with inpainting or outpainting operations"), e.g. a generated scene with exact text,
#: price and logo drawn over it.
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = DST + "compositeWithTrainedAlgorithmicMedia"
#: A composite of several elements at least one of which is synthetic, with no trained model involved: the
#: ``compositor`` backend's packshot photo on a rendered brand layout.
COMPOSITE_SYNTHETIC = DST + "compositeSynthetic"

#: Backends that make pixels without a trained generative model.
NON_GENERATIVE_BACKENDS = frozenset({"compositor"})

IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC_NS = "http://purl.org/dc/elements/1.1/"
#: brandflow's own XMP namespace (a URN: nobody else can own it; exiftool shows it as the group XMP-brandflow).
BRANDFLOW_NS = "urn:brandflow:xmp:1.0#"

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
_XMP_JPEG_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_MAX_JPEG_PACKET = 65535 - 2 - len(_XMP_JPEG_ID)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def source_type_for(backend: str, composited: bool) -> str:
    """The IPTC Digital Source Type URI for a creative.

    Args:
        backend: the generator backend name (``compositor``, ``flux2`` …).
        composited: whether the compose stage drew anything over the generated pixels (headline, price, CTA,
            logo); usually ``any(job.overlay.values())``.

    Returns:
        :data:`COMPOSITE_SYNTHETIC` for a non-generative backend (:data:`NON_GENERATIVE_BACKENDS`);
        otherwise :data:`COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA` if composited, else
        :data:`TRAINED_ALGORITHMIC_MEDIA`. Source: IPTC Digital Source Type NewsCodes definitions.
    """
    if backend in NON_GENERATIVE_BACKENDS:
        return COMPOSITE_SYNTHETIC
    return COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA if composited else TRAINED_ALGORITHMIC_MEDIA


def build_xmp(
    *,
    digital_source_type: str,
    campaign: str,
    job_id: str,
    product_id: str | None = None,
    backend: str | None = None,
    ai_system: str | None = None,
    model: ModelLicence | None = None,
    extra: dict[str, str] | None = None,
) -> bytes:
    """A complete XMP packet (UTF-8, ``<?xpacket …?>`` wrapper, no padding) with the provenance properties.

    Args:
        digital_source_type: an IPTC Digital Source Type URI (``http://cv.iptc.org/newscodes/digitalsourcetype/…``).
        campaign, job_id: written as ``brandflow:Campaign`` and ``brandflow:JobId``.
        product_id, backend: ``brandflow:ProductId`` / ``brandflow:Backend`` when given.
        ai_system: ``Iptc4xmpExt:AISystemUsed`` (e.g. ``FLUX.2 [klein]``) when given.
        model: the generating model and its licence (brandflow/licences.py): ``brandflow:Model``, ``ModelId``,
            ``ModelLicence``, ``ModelLicenceUrl``, ``Usage`` and ``RecordedLicence`` (each when known).
        extra: more ``brandflow:<Name>`` properties; names must be XML names (``Seed``, ``RunId``).

    Returns:
        The packet bytes; deterministic for the same arguments.

    Raises:
        ValueError: the source type is not an IPTC digital source type URI, or an extra name is not an XML name.
    """
    if not digital_source_type.startswith(DST) or not _NAME.match(digital_source_type[len(DST):]):
        raise ValueError(f"digital_source_type must be an IPTC term URI under {DST}, got {digital_source_type!r}")
    props: list[tuple[str, str]] = [("Iptc4xmpExt:DigitalSourceType", digital_source_type)]
    if ai_system:
        props.append(("Iptc4xmpExt:AISystemUsed", ai_system))
    props.append(("xmp:CreatorTool", "brandflow"))
    props += [("brandflow:Campaign", campaign), ("brandflow:JobId", job_id)]
    if product_id is not None:
        props.append(("brandflow:ProductId", product_id))
    if backend is not None:
        props.append(("brandflow:Backend", backend))
    if model is not None:
        for name, value in (("Model", model.model), ("ModelId", model.model_id), ("ModelLicence", model.licence),
                            ("ModelLicenceUrl", model.url), ("Usage", model.usage), ("RecordedLicence", model.recorded_licence)):
            if value:
                props.append((f"brandflow:{name}", value))
    for name, value in sorted((extra or {}).items()):
        if not _NAME.match(name):
            raise ValueError(f"provenance property name {name!r} is not an XML name")
        props.append((f"brandflow:{name}", str(value)))
    body = "\n".join(f"   <{p}>{escape(_xml_text(v))}</{p}>" for p, v in props)
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="brandflow">\n'
        f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
        '  <rdf:Description rdf:about=""\n'
        f'    xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"\n'
        f'    xmlns:xmp="{XMP_NS}"\n'
        f'    xmlns:brandflow="{BRANDFLOW_NS}">\n'
        f"{body}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def _xml_text(value: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters other than tab/newline/CR)."""
    return "".join(c for c in str(value) if c in "\t\n\r" or ord(c) >= 0x20)


# ----------------------------------------------------------------------------------------------- embedding
def _kind(data: bytes) -> str:
    if data.startswith(_PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "unknown"


def embed_xmp(data: bytes, packet: bytes) -> bytes:
    """``data`` (a PNG, JPEG or WebP file's bytes) with ``packet`` as its only XMP packet; pixels untouched.

    Raises:
        ImageError: not a PNG, JPEG or WebP, a malformed container, or (JPEG) a packet over 65 502 bytes.
    """
    kind = _kind(data)
    if kind == "png":
        return _png_embed(data, packet)
    if kind == "jpeg":
        return _jpeg_embed(data, packet)
    if kind == "webp":
        return _webp_embed(data, packet)
    raise ImageError("cannot embed provenance: only PNG, JPEG and WebP files can carry it, and this is none of them. "
                     "Fix: set the format's file_type to png, jpeg or webp, or switch marking off with "
                     "publish.provenance.enabled: false (the creative is then published unmarked)")


def extract_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a PNG, JPEG or WebP file's bytes, or ``None`` if it has none.

    Raises:
        ImageError: not a PNG, JPEG or WebP, or a malformed container.
    """
    kind = _kind(data)
    if kind == "png":
        for ctype, body, _, _ in _png_chunks(data):
            if ctype == b"iTXt" and body.startswith(_XMP_PNG_KEYWORD + b"\x00"):
                return _itxt_text(body)
        return None
    if kind == "jpeg":
        for marker, payload, _, _ in _jpeg_segments(data):
            if marker == 0xE1 and payload.startswith(_XMP_JPEG_ID):
                return payload[len(_XMP_JPEG_ID):]
        return None
    if kind == "webp":
        for fourcc, body, _, _ in _riff_chunks(data):
            if fourcc == b"XMP ":
                return body
        return None
    raise ImageError("cannot read provenance: only PNG, JPEG and WebP files are supported")


# PNG: 8-byte signature, then chunks of length(4, BE) type(4) data crc(4) (PNG spec §5.3).
def _png_chunks(data: bytes):
    pos = len(_PNG_SIG)
    while pos < len(data):
        if pos + 8 > len(data):
            raise ImageError("malformed PNG: truncated chunk header")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ImageError(f"malformed PNG: chunk {ctype!r} runs past the end of the file")
        yield ctype, data[pos + 8:pos + 8 + length], pos, end
        pos = end
        if ctype == b"IEND":
            return


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def _itxt_text(body: bytes) -> bytes:
    """The text of an iTXt chunk: keyword\\0 flag method lang\\0 translated\\0 text (PNG spec §11.3.4.5)."""
    keyword_end = body.index(b"\x00")
    compressed, rest = body[keyword_end + 1], body[keyword_end + 3:]
    rest = rest[rest.index(b"\x00") + 1:]
    text = rest[rest.index(b"\x00") + 1:]
    return zlib.decompress(text) if compressed else text


def _png_embed(data: bytes, packet: bytes) -> bytes:
    chunk = _png_chunk(b"iTXt", _XMP_PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)  # uncompressed, no language
    out, inserted = [data[:len(_PNG_SIG)]], False
    for ctype, body, start, end in _png_chunks(data):
        if ctype == b"iTXt" and body.startswith(_XMP_PNG_KEYWORD + b"\x00"):
            continue  # the old packet
        out.append(data[start:end])
        if ctype == b"IHDR":
            out.append(chunk)
            inserted = True
    if not inserted:
        raise ImageError("malformed PNG: no IHDR chunk")
    return b"".join(out)


# JPEG: SOI, then marker segments FFxx + length(2, BE, including itself) up to SOS; after SOS, entropy-coded
# data to the end, copied as it is (ITU-T T.81 Annex B).
def _jpeg_segments(data: bytes):
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ImageError("malformed JPEG: expected a marker")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        marker, start = data[pos], pos - 1
        pos += 1
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers, no length
            yield marker, b"", start, pos
            continue
        if marker == 0xD9:  # EOI before SOS
            yield marker, b"", start, pos
            return
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        end = pos + length
        if length < 2 or end > len(data):
            raise ImageError("malformed JPEG: a segment runs past the end of the file")
        yield marker, data[pos + 2:end], start, end
        if marker == 0xDA:  # SOS: the rest is image data
            yield -1, data[end:], end, len(data)
            return
        pos = end


def _jpeg_embed(data: bytes, packet: bytes) -> bytes:
    if len(packet) > _MAX_JPEG_PACKET:
        raise ImageError(f"XMP packet of {len(packet)} bytes does not fit one JPEG APP1 segment ({_MAX_JPEG_PACKET})")
    payload = _XMP_JPEG_ID + packet
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    out, inserted = [b"\xff\xd8"], False
    for marker, body, start, end in _jpeg_segments(data):
        if marker == 0xE1 and body.startswith(_XMP_JPEG_ID):
            continue  # the old packet
        leading = marker == 0xE0 or (marker == 0xE1 and body.startswith(b"Exif\x00"))
        if not inserted and not leading:
            out.append(segment)  # after JFIF (APP0) and Exif (APP1), before everything else
            inserted = True
        out.append(data[start:end])
    if not inserted:
        out.append(segment)
    return b"".join(out)


# WebP: RIFF header ('RIFF' size 'WEBP'), then chunks fourcc(4) size(4, LE) data, padded to even length.
def _riff_chunks(data: bytes):
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos:pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > len(data):
            raise ImageError(f"malformed WebP: chunk {fourcc!r} runs past the end of the file")
        yield fourcc, data[pos + 8:pos + 8 + size], pos, min(end, len(data))
        pos = end


def _riff_chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _webp_canvas(fourcc: bytes, body: bytes) -> tuple[int, int, bool]:
    """Width, height and 'has alpha' of a simple-format WebP bitstream (VP8 key frame or VP8L header)."""
    if fourcc == b"VP8L":
        if len(body) < 5 or body[0] != 0x2F:
            raise ImageError("malformed WebP: bad VP8L signature")
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    if fourcc == b"VP8 ":
        if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a":
            raise ImageError("malformed WebP: bad VP8 key frame")
        w, h = struct.unpack("<HH", body[6:10])
        return w & 0x3FFF, h & 0x3FFF, False
    raise ImageError(f"malformed WebP: unexpected first chunk {fourcc!r}")


def _webp_embed(data: bytes, packet: bytes) -> bytes:
    chunks = [(f, b) for f, b, _, _ in _riff_chunks(data) if f != b"XMP "]
    if not chunks:
        raise ImageError("malformed WebP: no chunks")
    if chunks[0][0] == b"VP8X":
        flags = bytearray(chunks[0][1])
        flags[0] |= 0x04  # XMP metadata present
        chunks[0] = (b"VP8X", bytes(flags))
    else:  # simple format → extended format: a VP8X header first (canvas size, alpha and XMP flags)
        w, h, alpha = _webp_canvas(*chunks[0])
        flags = 0x04 | (0x10 if alpha else 0)
        vp8x = bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
        chunks.insert(0, (b"VP8X", vp8x))
    chunks.append((b"XMP ", packet))  # XMP comes last (after EXIF), as the container spec orders them
    body = b"WEBP" + b"".join(_riff_chunk(f, b) for f, b in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ----------------------------------------------------------------------------------------------- C2PA
@dataclass(frozen=True)
class C2paSigning:
    """What is needed to sign a C2PA manifest with c2pa-python (optional: ``pip install c2pa-python``).

    Attributes:
        cert_chain: PEM file with the signing certificate first, then intermediates (not the root). The signing
            certificate must be an end-entity certificate with ``digitalSignature`` key usage and an extended key
            usage C2PA accepts (e.g. ``emailProtection`` or ``documentSigning``).
        private_key: PEM file of the signing key (PKCS#8). Keep it out of the campaign YAML and the repository.
        alg: ``es256`` | ``es384`` | ``es512`` | ``ps256`` | ``ps384`` | ``ps512`` | ``ed25519`` (matching the key).
        tsa_url: an RFC 3161 time-stamp authority, or ``None`` (no trusted time stamp).
    """

    cert_chain: Path
    private_key: Path
    alg: str = "es256"
    tsa_url: str | None = None


class SigningError(BrandflowError):
    """The C2PA signing certificate or key cannot be used (unreadable, corrupt, expired, not matching);
    the message names the file and the fix."""


#: Bytes an XMP packet from :func:`build_xmp` takes at most in practice (measured ≈ 1.3 KB with every field and a
#: 200-character recorded licence), with room to spare.
XMP_RESERVE = 4096
#: Bytes a C2PA manifest store adds besides the certificate chain it embeds (claim, assertions, signature, JUMBF
#: boxes, no thumbnail; measured ≈ 3.2 KB over a 1.3 KB ES256 chain on a 320 px JPEG), with room to spare.
C2PA_RESERVE = 16384


def marking_reserve(enabled: bool, cert_chain: Path | None) -> int:
    """Bytes to keep free under a format's ``max_bytes`` for the marks :func:`mark` adds: the XMP packet, and the
    C2PA manifest store (which embeds the certificate chain) when signing. 0 when marking is off.

    Raises:
        OSError: the certificate chain cannot be read.
    """
    if not enabled:
        return 0
    return XMP_RESERVE + (C2PA_RESERVE + Path(cert_chain).stat().st_size if cert_chain is not None else 0)


def check_signing(signing: C2paSigning, now: datetime | None = None) -> None:
    """Check a C2PA signing set-up before anything is signed: both PEM files parse, the chain starts with an
    end-entity certificate whose validity period contains ``now``, every certificate in it is in date, and the
    private key belongs to the signing certificate.

    Args:
        signing: the certificate chain and key (``publish.provenance.c2pa``).
        now: the time to check against (UTC; default: now).

    Raises:
        SigningError: names the file, what is wrong (corrupt, expired, not yet valid, key mismatch) and the fix.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    now = now or datetime.now(timezone.utc)
    chain_path, key_path = Path(signing.cert_chain), Path(signing.private_key)
    try:
        chain_pem, key_pem = chain_path.read_bytes(), key_path.read_bytes()
    except OSError as e:
        raise SigningError(f"{e.filename}: cannot read the C2PA signing {'key' if e.filename == str(key_path) else 'certificate chain'} "
                           f"({e.strerror}). Fix: point publish.provenance.c2pa.cert_chain / private_key at readable PEM files") from None
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise SigningError(f"{chain_path}: not a PEM certificate chain (corrupt or another format). Fix: give the signing "
                           "certificate first, then its intermediates, as PEM ('-----BEGIN CERTIFICATE-----'); convert DER "
                           "with `openssl x509 -inform der -in cert.der -out cert.pem`") from None
    for i, cert in enumerate(chain):
        which = "signing certificate" if i == 0 else f"intermediate certificate {i}"
        subject = cert.subject.rfc4514_string()
        if cert.not_valid_after_utc < now:
            raise SigningError(f"{chain_path}: the {which} ({subject}) expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC. "
                               "Fix: renew it with your certificate authority and replace the file (C2PA validators reject "
                               "signatures made with an expired certificate unless a time stamp vouches for an earlier time)")
        if cert.not_valid_before_utc > now:
            raise SigningError(f"{chain_path}: the {which} ({subject}) is not valid before "
                               f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC. Fix: check the machine's clock or wait until then")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise SigningError(f"{key_path}: not an unencrypted PEM private key ({e}). Fix: give the signing key as PKCS#8 PEM "
                           "without a passphrase (`openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pk8.pem`)") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != chain[0].public_key().public_bytes(*spki):
        raise SigningError(f"{key_path}: this private key does not belong to the signing certificate, the first in {chain_path}. "
                           "Fix: pair the key with its own certificate, and put that certificate first in the chain")


def _c2pa_sign(path: Path, signing: C2paSigning, digital_source_type: str, title: str,
               model: ModelLicence | None = None, composited: bool = False) -> None:
    """Sign ``path`` in place with a C2PA manifest: a ``c2pa.created`` action with the source type whose
    ``softwareAgent`` is the generating model (its id and licence as parameters), and, for a trained model's
    output with text drawn over it, a ``c2pa.edited`` action by brandflow (C2PA 2.1 actions assertion)."""
    try:
        import c2pa
    except ImportError as e:
        raise MissingDependencyError("C2PA signing needs c2pa-python: pip install 'brandflow[c2pa]'") from e
    check_signing(signing)
    fmt = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}[_kind(path.read_bytes()[:16])]
    brandflow_agent = {"name": "brandflow", "version": _version()}
    created: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": digital_source_type, "softwareAgent": brandflow_agent}
    actions = [created]
    if model is not None:
        created["softwareAgent"] = {"name": model.model, "version": model.model_id}
        created["parameters"] = {"model_id": model.model_id, "licence": model.licence,
                                 **({"recorded_licence": model.recorded_licence} if model.recorded_licence else {})}
        if model.trained and composited:
            created["digitalSourceType"] = TRAINED_ALGORITHMIC_MEDIA  # what the model made …
            actions.append({"action": "c2pa.edited", "digitalSourceType": digital_source_type, "softwareAgent": brandflow_agent,
                            "description": "exact text (headline, price, call to action) drawn over the generated image"})
    manifest = {
        "claim_generator_info": [brandflow_agent],
        "title": title,
        "format": fmt,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(
        signing.alg.lower().encode(),
        Path(signing.cert_chain).read_bytes(),
        Path(signing.private_key).read_bytes(),
        signing.tsa_url.encode() if signing.tsa_url else None,
    )
    signer = c2pa.Signer.from_info(info)
    tmp = atomic_temp(path)
    try:
        # No thumbnail: c2pa-rs embeds a JPEG preview by default (≈ 30 KB on a 320 px creative, more on larger ones),
        # a second copy of pixels the file already is, which would eat a byte-limited format's budget.
        context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
        with c2pa.Builder(manifest, context) as builder, open(path, "rb") as source, open(tmp, "w+b") as dest:
            builder.sign(signer, fmt, source, dest)
        os.replace(tmp, path)
    finally:
        signer.close()
        tmp.unlink(missing_ok=True)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("brandflow")
    except Exception:  # noqa: BLE001
        return "0"


# ----------------------------------------------------------------------------------------------- public API
def mark(
    src: str | Path,
    dst: str | Path,
    *,
    campaign: str,
    job_id: str,
    backend: str,
    product_id: str | None = None,
    composited: bool = True,
    digital_source_type: str | None = None,
    ai_system: str | None = None,
    model: ModelLicence | None = None,
    extra: dict[str, str] | None = None,
    enabled: bool = True,
    c2pa: C2paSigning | None = None,
) -> tuple[Path, str]:
    """Write a provenance-marked copy of the creative ``src`` to ``dst``; returns the file to publish and its sha256.

    Args:
        src: the creative (PNG, JPEG or WebP); never modified (its sha256 is the stage cache's key).
        dst: where the marked copy goes (e.g. ``creative.marked.png`` beside it); must differ from ``src``.
        campaign, job_id: the campaign slug and ``job.job_id``, written into the XMP.
        backend: the generator backend (``job.backend``); picks the source type, see :func:`source_type_for`.
        product_id: the product id, written as ``brandflow:ProductId``.
        composited: whether overlays were drawn over generated pixels (``any(job.overlay.values())``).
        digital_source_type: an explicit IPTC source type URI, overriding :func:`source_type_for`.
        ai_system: ``Iptc4xmpExt:AISystemUsed``; default the model's name (``model.model``), else ``backend``, for
            generative backends; none otherwise.
        model: the generating model and its licence (:func:`brandflow.licences.check_licence`), written into the
            XMP (see :func:`build_xmp`) and, when signing, as the ``softwareAgent`` of the C2PA ``c2pa.created`` action.
        extra: more ``brandflow:<Name>`` properties (e.g. ``{"Seed": "42"}``).
        enabled: ``False`` switches marking off: ``(src, sha256(src))`` is returned and nothing is written.
        c2pa: sign a C2PA manifest (``c2pa.created`` with the same source type) after embedding the XMP.

    Returns:
        ``(path, sha256)`` of the file to publish: ``dst`` and its sha256, or ``src`` and its own when disabled.
        Without C2PA the bytes are a pure function of ``src`` and the arguments. A C2PA signature holds fresh ids
        and times, so a signed ``dst`` whose inputs are unchanged (recorded in ``dst`` + ``.provenance.json``) is
        reused rather than signed again, keeping a resumed run from publishing a second version.

    Raises:
        ImageError: ``src`` is not a well-formed PNG, JPEG or WebP.
        ValueError: ``dst`` is ``src``, or a bad source type / property name.
        MissingDependencyError: ``c2pa`` is given but c2pa-python is not installed.
        SigningError: the certificate chain or key is unreadable, corrupt, expired or mismatched (:func:`check_signing`).
        OSError: ``src`` is unreadable or ``dst`` unwritable.
    """
    src, dst = Path(src), Path(dst)
    if not enabled:
        return src, sha256_file(src)
    if src.resolve() == dst.resolve():
        raise ValueError(f"mark: dst must differ from src ({src}); the unmarked creative is the stage cache's record")
    source_type = digital_source_type or source_type_for(backend, composited)
    if ai_system is None and backend not in NON_GENERATIVE_BACKENDS and source_type != COMPOSITE_SYNTHETIC:
        ai_system = model.model if model is not None and model.trained else backend
    packet = build_xmp(digital_source_type=source_type, campaign=campaign, job_id=job_id, product_id=product_id,
                       backend=backend, ai_system=ai_system, model=model, extra=extra)
    data = src.read_bytes()
    inputs = {"src": hashlib.sha256(data).hexdigest(), "xmp": hashlib.sha256(packet).hexdigest(),
              "c2pa": None if c2pa is None else [str(c2pa.cert_chain), c2pa.alg, c2pa.tsa_url, composited]}
    record = dst.with_name(dst.name + ".provenance.json")
    if c2pa is not None and dst.is_file() and record.is_file():
        try:
            previous = json.loads(record.read_text())
            if previous.get("inputs") == inputs and sha256_file(dst) == previous.get("sha256"):
                return dst, previous["sha256"]
        except (ValueError, KeyError):
            pass
    marked = embed_xmp(data, packet)
    if c2pa is None and dst.is_file() and dst.stat().st_size == len(marked) and dst.read_bytes() == marked:
        return dst, hashlib.sha256(marked).hexdigest()  # already marked by an earlier run: rewrite nothing
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_temp(dst)
    try:
        tmp.write_bytes(marked)
        if c2pa is not None:
            _c2pa_sign(tmp, c2pa, source_type, title=dst.name, model=model, composited=composited)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    sha = sha256_file(dst)
    if c2pa is not None:
        record.write_text(json.dumps({"inputs": inputs, "sha256": sha}))
    return dst, sha


def read_xmp(path: str | Path) -> str | None:
    """The XMP packet embedded in a PNG, JPEG or WebP file, as text, or ``None`` if there is none.

    Raises:
        ImageError: not a PNG, JPEG or WebP, or malformed.
        OSError: unreadable.
    """
    packet = extract_xmp(Path(path).read_bytes())
    return None if packet is None else packet.decode("utf-8", errors="replace")


def read_provenance(path: str | Path) -> dict[str, Any]:
    """Read the provenance back from a file (marked by :func:`mark` or by any XMP-aware tool).

    Args:
        path: a PNG, JPEG or WebP file.

    Returns:
        ``{}`` if the file has no XMP; otherwise a dict with, when present: ``digital_source_type`` (the URI),
        ``source_type`` (its last segment, e.g. ``trainedAlgorithmicMedia``), ``ai_system``, ``creator_tool``,
        ``campaign``, ``job_id``, ``product_id``, ``backend``, any other ``brandflow:*`` property under its own
        name, and ``c2pa`` (``True`` when the file also carries a C2PA manifest store).

    Raises:
        ImageError: not a PNG, JPEG or WebP, malformed, or an XMP packet that is not well-formed XML (packets
            with a DOCTYPE are refused: no entity expansion on untrusted files).
        OSError: unreadable.
    """
    data = Path(path).read_bytes()
    packet = extract_xmp(data)
    out: dict[str, Any] = {}
    if packet is not None:
        text = packet.decode("utf-8", errors="replace")
        if "<!DOCTYPE" in text or "<!ENTITY" in text:
            raise ImageError(f"{path}: XMP packet with a DOCTYPE/ENTITY declaration refused")
        start = text.find("<x:xmpmeta")
        start = text.find("<rdf:RDF") if start < 0 else start
        end_tag = "</x:xmpmeta>" if text.startswith("<x:xmpmeta", start) else "</rdf:RDF>"
        end = text.find(end_tag)
        try:
            root = ET.fromstring(text[start:end + len(end_tag)])
        except ET.ParseError as e:
            raise ImageError(f"{path}: the embedded XMP is not well-formed XML ({e})") from None
        props = _properties(root)
        names = {
            (IPTC_EXT_NS, "DigitalSourceType"): "digital_source_type",
            (IPTC_EXT_NS, "AISystemUsed"): "ai_system",
            (XMP_NS, "CreatorTool"): "creator_tool",
            (BRANDFLOW_NS, "Campaign"): "campaign",
            (BRANDFLOW_NS, "JobId"): "job_id",
            (BRANDFLOW_NS, "ProductId"): "product_id",
            (BRANDFLOW_NS, "Backend"): "backend",
        }
        for (ns, local), value in props.items():
            if (ns, local) in names:
                out[names[(ns, local)]] = value
            elif ns == BRANDFLOW_NS:
                out[local] = value
        if "digital_source_type" in out:
            out["source_type"] = str(out["digital_source_type"]).rstrip("/").rsplit("/", 1)[-1]
    if _has_c2pa(data):
        out["c2pa"] = True
    return out


def _properties(root: ET.Element) -> dict[tuple[str, str], Any]:
    """Simple XMP properties of every ``rdf:Description``, as attributes or child elements (both RDF forms)."""
    props: dict[tuple[str, str], Any] = {}
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        for name, value in desc.attrib.items():
            if name.startswith("{") and not name.startswith(f"{{{RDF_NS}}}"):
                ns, local = name[1:].split("}", 1)
                props[(ns, local)] = value
        for child in desc:
            if not child.tag.startswith("{"):
                continue
            ns, local = child.tag[1:].split("}", 1)
            items = [li.text or "" for li in child.iter(f"{{{RDF_NS}}}li")]
            props[(ns, local)] = items if items else (child.text or "").strip()
    return props


def _has_c2pa(data: bytes) -> bool:
    kind = _kind(data)
    if kind == "png":
        return any(ctype == b"caBX" for ctype, *_ in _png_chunks(data))
    if kind == "jpeg":
        return any(m == 0xEB and b"c2pa" in body[:64] for m, body, *_ in _jpeg_segments(data))
    if kind == "webp":
        return any(f == b"C2PA" for f, *_ in _riff_chunks(data))
    return False
