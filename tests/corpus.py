"""A corpus of awkward and hostile image files, generated (no binary fixtures in the repository).

Each case is ``(name, file bytes, expectation)``: ``None`` when the file must classify, else a
regular expression the error message must match (it names the problem).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Optional

import numpy as np
from PIL import Image

Case = tuple[str, bytes, Optional[str]]
NOT_AN_IMAGE = "not an image format"
BROKEN = "truncated or corrupt|not an image format"


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def photo(size=(96, 64)) -> Image.Image:
    rng = np.random.default_rng(0)
    w, h = size
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    noise = rng.normal(0, 20, (h, w, 3))
    return Image.fromarray(np.clip(np.concatenate([x + 0 * y, y + 0 * x, 255 - x + 0 * y], axis=2) + noise, 0, 255).astype(np.uint8))


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims another size (CRC fixed up)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(photo((80, 40)), "JPEG", exif=exif.tobytes())


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (48, 48), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40, loop=0)


def rgba_with_hole() -> Image.Image:
    image = photo().convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize(image.size))
    return image


def palette_with_transparency() -> bytes:
    image = photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(image, "PNG", transparency=0)


def zip_of_image() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.png", encode(photo(), "PNG"))
    return buffer.getvalue()


def bad_crc_png() -> bytes:
    data = bytearray(encode(photo(), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 8] ^= 0xFF  # flip a byte of compressed pixel data
    return bytes(data)


def cases() -> list[Case]:
    """At least 40 cases: what users upload by mistake, and what attackers upload on purpose."""
    jpeg, png = encode(photo(), "JPEG"), encode(photo(), "PNG")
    grey16 = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16)
    out: list[Case] = [
        ("empty.jpg", b"", "empty"),
        ("text-renamed.jpg", b"Dear diary, today I uploaded a text file.\n" * 20, NOT_AN_IMAGE),
        ("truncated.jpg", jpeg[: len(jpeg) // 2], BROKEN),
        ("truncated.png", png[: len(png) // 2], BROKEN),
        ("header-only.jpg", jpeg[:20], BROKEN),
        ("png-named.jpg", png, None),
        ("jpeg-named.png", jpeg, None),
        ("1x1.png", encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"), None),
        ("2x2.jpg", encode(Image.new("RGB", (2, 2), (30, 200, 30)), "JPEG"), None),
        ("1x10000.png", encode(Image.new("L", (1, 10000), 128), "PNG"), "longer than 20:1"),
        ("bomb-30000x30000.png", png_claiming(30000, 30000), "too many pixels"),
        ("claims-8000x8000.png", png_claiming(8000, 8000), "over the limit"),
        ("grey16.png", encode(Image.fromarray(grey16), "PNG"), None),
        ("cmyk.jpg", encode(photo().convert("CMYK"), "JPEG"), None),
        ("rgba.png", encode(rgba_with_hole(), "PNG"), None),
        ("la.png", encode(rgba_with_hole().convert("LA"), "PNG"), None),
        ("palette-transparent.png", palette_with_transparency(), None),
        ("transparent.gif", encode(photo().convert("P"), "GIF", transparency=0), None),
        ("animated.gif", animated("GIF"), None),
        ("animated.webp", animated("WEBP"), None),
        ("grey.png", encode(photo().convert("L"), "PNG"), None),
        ("bilevel.png", encode(photo().convert("1"), "PNG"), None),
        ("photo.tiff", encode(photo(), "TIFF"), None),
        ("int32.tiff", encode(Image.fromarray(np.asarray(photo().convert("L"), np.int32) * 200), "TIFF"), None),
        ("float.tiff", encode(Image.fromarray(np.asarray(photo().convert("L"), np.float32) / 255), "TIFF"), None),
        ("photo.bmp", encode(photo(), "BMP"), None),
        ("photo.webp", encode(photo(), "WEBP"), None),
        ("icon.ico", encode(photo((64, 64)), "ICO"), None),
        ("photo.ppm", encode(photo(), "PPM"), None),
        ("progressive.jpg", encode(photo(), "JPEG", progressive=True), None),
        ("bad-crc.png", bad_crc_png(), BROKEN),
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>', NOT_AN_IMAGE),
        ("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200, NOT_AN_IMAGE),
        ("document.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", NOT_AN_IMAGE),
        ("page.html", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>", NOT_AN_IMAGE),
        ("random.bin", np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(), NOT_AN_IMAGE),
        ("archive.zip", zip_of_image(), NOT_AN_IMAGE),
    ]
    out += [(f"exif-orientation-{k}.jpg", with_orientation(k), None) for k in range(1, 9)]
    return out


def oversized(limit: int) -> Case:
    """A file one byte over ``limit`` (a PNG signature, then padding)."""
    return ("oversized.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (limit - 7), "over the")
