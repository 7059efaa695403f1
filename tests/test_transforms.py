import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from resnet.transforms import ImageError, Preprocessing, eval_transform, load_image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gradient(size=(40, 30)) -> Image.Image:
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def test_real_photos_load_as_rgb(photos_dir):
    for path in sorted(photos_dir.glob("*.*")):
        if path.suffix in (".png", ".jpg"):
            image = load_image(path)
            assert image.mode == "RGB" and min(image.size) > 100


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "CMYK", "YCbCr", "I", "F", "I;16"])
def test_every_mode_becomes_rgb(mode):
    base = gradient()
    grey = np.asarray(base.convert("L"))
    high_depth = {"I": grey.astype(np.int32) * 257, "F": grey.astype(np.float32) / 255, "I;16": grey.astype(np.uint16) * 257}
    image = Image.fromarray(high_depth[mode]) if mode in high_depth else base.convert(mode)
    assert image.mode == mode
    out = load_image(image)
    assert out.mode == "RGB" and out.size == base.size
    if mode in ("I", "F", "I;16"):  # high bit-depth grey is scaled, not clipped to white
        np.testing.assert_allclose(np.asarray(out)[:, :, 0], np.asarray(base.convert("L")), atol=1)


def test_sixteen_bit_png_round_trip():
    grey = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16)
    data = encode(Image.fromarray(grey), "PNG")
    out = np.asarray(load_image(data))
    np.testing.assert_allclose(out[:, :, 0], grey / 257, atol=1)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_transparency_is_composited_on_white(mode):
    rgba = Image.new("RGBA", (8, 8), (200, 10, 10, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    image = rgba if mode == "RGBA" else (rgba.convert("LA") if mode == "LA" else rgba.convert("PA"))
    out = load_image(encode(image, "PNG") if mode != "PA" else image)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((4, 4)) != (255, 255, 255)


def test_palette_with_transparency_index():
    p = Image.new("P", (4, 4), 1)
    p.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    p.putpixel((0, 0), 0)
    out = load_image(encode(p, "PNG", transparency=0))
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 1)) == (10, 200, 10)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_honoured(orientation):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 10))  # a red mark in the top-left corner of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = load_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == ((40, 20) if orientation <= 4 else (20, 40))
    # Where the mark lands after the rotation/flip each orientation asks for.
    w, h = out.size
    corner = {1: (0, 0), 2: (w - 1, 0), 3: (w - 1, h - 1), 4: (0, h - 1), 5: (0, 0), 6: (w - 1, 0), 7: (w - 1, h - 1), 8: (0, h - 1)}[orientation]
    r, g, b = out.getpixel((min(max(corner[0], 2), w - 3), min(max(corner[1], 2), h - 3)))
    assert r > 200 and b < 60


def test_animated_gif_gives_the_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    r, g, b = load_image(data).getpixel((8, 8))
    assert r > 200 and g < 50


def test_sources_path_bytes_file_array(tmp_path):
    image = gradient()
    path = tmp_path / "g.png"
    image.save(path)
    expected = np.asarray(image)
    for source in (path, str(path), path.read_bytes(), open(path, "rb"), expected, expected.astype(np.float32) / 255):
        np.testing.assert_array_equal(np.asarray(load_image(source)), expected)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims width x height (CRC fixed up)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = 8 + 8  # signature, then length + type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"this is plain text, not a picture", "not an image format"),
        (bomb_png(30000, 30000), "too many pixels"),
        (bomb_png(8000, 8000), "over the limit"),
        (encode(gradient((64, 64)), "JPEG")[:300], "truncated or corrupt"),
        (encode(gradient((64, 64)), "PNG")[:100], "truncated or corrupt"),
        (encode(Image.new("RGB", (1, 1000)), "PNG"), "longer than 20:1"),
    ],
)
def test_bad_inputs_name_the_problem(data, message):
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_size_cap(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(path)
    with pytest.raises(ImageError, match=r"big.png is 0.11\d MB, over the 0.000954 MB limit"):
        load_image(path, max_bytes=1000)
    with pytest.raises(ImageError, match="no image file"):
        load_image(tmp_path / "missing.png")


def test_tiny_image_still_preprocesses():
    tensor = eval_transform(Preprocessing())(load_image(Image.new("RGB", (1, 1), (10, 20, 30))))
    assert tensor.shape == (3, 224, 224)


def test_preprocessing_numbers_and_pipelines():
    p = Preprocessing.from_crop_pct(224, 0.965, interpolation="bicubic")
    assert p.resize_size == 232
    image = gradient((300, 200))
    x = eval_transform(p)(image)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    with pytest.raises(ValueError, match="interpolation"):
        Preprocessing(interpolation="lanczos5")
    with pytest.raises(ValueError, match="crop_pct"):
        Preprocessing.from_crop_pct(224, 1.5)


def camera_sized_jpeg(photo: Image.Image, size=(3000, 2000)) -> bytes:
    return encode(photo.convert("RGB").resize(size, Image.Resampling.BICUBIC), "JPEG", quality=90)


def test_large_jpegs_decode_at_a_reduced_scale_close_to_a_full_decode(photos_dir):
    p = Preprocessing.from_crop_pct(224, 0.965)  # resize 232, as timm's resnet50.tv2_in1k
    transform = eval_transform(p)
    for name in ("rocket.jpg", "coffee.png"):
        data = camera_sized_jpeg(Image.open(photos_dir / name))
        drafted = load_image(data, draft_side=2 * p.resize_size)
        assert drafted.size == (750, 500) and drafted.mode == "RGB"  # 1/4 scale: the largest that keeps 464 pixels
        full = load_image(data)
        assert full.size == (3000, 2000)
        assert float((transform(drafted) - transform(full)).abs().mean()) < 0.01  # about half a grey level


def test_draft_leaves_small_jpegs_and_other_formats_alone(photos_dir):
    rocket = photos_dir / "rocket.jpg"  # 640x427: no reduction keeps 2 x 232 pixels
    assert load_image(rocket, draft_side=464).tobytes() == load_image(rocket).tobytes()
    png = encode(gradient((3000, 2000)), "PNG")
    assert load_image(png, draft_side=100).size == (3000, 2000)
    grey = encode(gradient((2000, 3000)).convert("L"), "JPEG")  # portrait, grey: still RGB, still the right way up
    assert load_image(grey, draft_side=232).size == (250, 375) and load_image(grey, draft_side=232).mode == "RGB"


def claiming(data: bytes, width: int, height: int) -> bytes:
    """A baseline JPEG whose frame header (SOF0) claims width x height; its data stays that of the small one."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def test_a_jpeg_over_the_pixel_budget_decodes_at_the_largest_scale_that_fits():
    photo = gradient((3000, 2000))
    baseline, progressive = encode(photo, "JPEG"), encode(photo, "JPEG", progressive=True)
    assert load_image(baseline, max_pixels=1_000_000).size == (750, 500)  # 1/2 would be 1.5 megapixels
    assert load_image(baseline, max_pixels=2_000_000).size == (1500, 1000)
    assert load_image(baseline, max_pixels=1_000_000, draft_side=100).size == (375, 250)  # the draft may reduce further
    assert load_image(baseline).size == (3000, 2000)  # within the budget: decoded in full
    with pytest.raises(ImageError, match=r"3000x2000 pixels, over the limit of 1,000,000; resize") as e:
        load_image(progressive, max_pixels=1_000_000)  # libjpeg holds a progressive JPEG's coefficients at full size
    assert e.value.code == "too_many_pixels" and (e.value.params["width"], e.value.params["height"]) == (3000, 2000)


def test_what_cannot_be_decoded_safely_is_refused_with_its_size():
    huge = claiming(encode(gradient((64, 48)), "JPEG"), 65000, 60000)  # 66 megapixels even at 1/8 scale
    with pytest.raises(ImageError, match=r"65000x60000 pixels, over the limit of 50,000,000 even at 1/8 scale") as e:
        load_image(huge)
    assert e.value.params == {"width": 65000, "height": 60000, "limit": 50_000_000}
    with pytest.raises(ImageError, match=r"claims 900,000,000 pixels, too many pixels to decode safely") as e:
        load_image(bomb_png(30000, 30000))  # beyond Pillow's bomb limit: not even opened
    assert e.value.code == "bomb" and e.value.params == {"pixels": "900,000,000"}
    with pytest.raises(ImageError, match=r"9500x9500 pixels, over the limit of 50,000,000; resize"):
        load_image(bomb_png(9500, 9500))  # over Pillow's warning limit, under its error: refused before decoding
