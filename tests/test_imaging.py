"""Image intake: every mode and format real photos come in, and a typed error for every bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import image_bytes
from PIL import Image

from fashion_classifier import imaging
from fashion_classifier.imaging import (
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    TruncatedImageError,
    UnsupportedImageError,
    decode_image,
    load_model_input,
    to_model_input,
)

RED = (220, 20, 30)


def red_square(mode="RGB", size=(40, 40)) -> Image.Image:
    return Image.new("RGB", size, RED).convert(mode)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"])
def test_every_listed_format_decodes_to_rgb(fmt):
    image = decode_image(image_bytes(red_square(), fmt))
    assert image.mode == "RGB" and image.size == (40, 40)
    r, g, b = image.getpixel((20, 20))
    assert r > 150 and g < 90 and b < 90, (fmt, (r, g, b))


def test_heif_phone_photo_decodes_when_supported():
    if not imaging.HEIF_SUPPORTED:
        pytest.skip("pillow-heif is not installed on this platform")
    data = image_bytes(red_square(size=(64, 48)), "HEIF", quality=90)
    image = decode_image(data)
    assert image.size == (64, 48)
    assert image.getpixel((32, 24))[0] > 150


def test_grayscale_becomes_three_equal_channels():
    image = decode_image(image_bytes(Image.new("L", (10, 10), 77)))
    assert image.mode == "RGB" and image.getpixel((5, 5)) == (77, 77, 77)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_pixels_become_white(mode):
    base = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    base.putpixel((2, 2), (0, 0, 0, 255))
    image = decode_image(image_bytes(base.convert(mode)))
    assert image.getpixel((8, 8)) == (255, 255, 255)
    assert image.getpixel((2, 2)) == (0, 0, 0)


def test_palette_with_transparency_composites_on_white():
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    palette.putpixel((1, 1), 1)
    image = decode_image(image_bytes(palette, "PNG", transparency=0))
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert image.getpixel((1, 1)) == (200, 0, 0)


def test_cmyk_jpeg_decodes():
    image = decode_image(image_bytes(red_square("CMYK"), "JPEG"))
    r, g, b = image.getpixel((20, 20))
    assert image.mode == "RGB" and r > 150 and g < 90


def test_sixteen_bit_grayscale_keeps_its_brightness():
    values = np.full((8, 8), 40000, dtype=np.uint16)
    data = image_bytes(Image.fromarray(values), "PNG")  # mode I;16
    r, g, b = decode_image(data).getpixel((4, 4))
    assert r == g == b and abs(r - round(40000 * 255 / 65535)) <= 1


def test_exif_orientation_is_applied():
    # 40 wide, 20 high, left half red; orientation 6 means "rotate 90 degrees clockwise to view".
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    image.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(image_bytes(image, "JPEG", exif=exif, quality=95))
    assert decoded.size == (20, 40)
    assert decoded.getpixel((10, 5))[1] < 90  # red now at the top
    assert decoded.getpixel((10, 35))[1] > 200


def test_animated_gif_and_webp_give_the_first_frame():
    frames = [Image.new("RGB", (16, 16), color) for color in (RED, (0, 0, 255))]
    for fmt in ("GIF", "WEBP"):
        buffer = io.BytesIO()
        frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)
        r, g, b = decode_image(buffer.getvalue()).getpixel((8, 8))
        assert r > 150 and b < 90, fmt


def test_large_jpeg_is_decoded_in_draft_mode():
    big = Image.new("RGB", (4000, 3000), RED)
    data = image_bytes(big, "JPEG", quality=80)
    reduced = decode_image(data, draft_size=(120, 160))
    assert reduced.size == (500, 375)  # 1/8 scale, still >= the requested size
    assert decode_image(data).size == (4000, 3000)


def test_empty_bytes_are_rejected():
    with pytest.raises(EmptyImageError):
        decode_image(b"")


@pytest.mark.parametrize("data", [b"hello, this is text", b"%PDF-1.4\n1 0 obj", b"\x00" * 100,
                                  b"<svg xmlns='http://www.w3.org/2000/svg'/>"])
def test_non_images_are_unsupported(data):
    with pytest.raises(UnsupportedImageError) as info:
        decode_image(data)
    assert info.value.http_status == 400 and info.value.code == "unsupported_format"


def test_file_name_does_not_matter_only_content():
    # a PNG whose bytes are fine decodes whatever it was called; there is no name in the API at all
    assert decode_image(image_bytes(red_square(), "PNG")).size == (40, 40)


def test_truncated_jpeg_is_a_typed_error():
    data = image_bytes(Image.effect_noise((200, 200), 50).convert("RGB"), "JPEG")
    with pytest.raises(TruncatedImageError) as info:
        decode_image(data[: len(data) // 2])
    assert info.value.http_status == 400


def test_corrupt_png_is_a_typed_error():
    data = bytearray(image_bytes(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG"))
    data[60:400] = b"\xff" * 340
    with pytest.raises(CorruptImageError):
        decode_image(bytes(data))


def test_decompression_bomb_is_refused_before_decoding():
    data = image_bytes(Image.new("L", (12000, 12000), 0), "PNG")
    assert len(data) < 200_000  # tiny file, 144 megapixels
    with pytest.raises(ImageTooLargeError):
        decode_image(data, max_pixels=50_000_000)


def test_letterbox_keeps_aspect_on_white():
    landscape = Image.new("RGB", (200, 100), RED)
    array = to_model_input(landscape, (160, 120))
    assert array.shape == (160, 120, 3) and array.dtype == np.uint8
    assert tuple(array[5, 60]) == (255, 255, 255)  # padding above
    assert tuple(array[80, 60])[0] > 150  # the picture in the middle
    assert tuple(array[155, 60]) == (255, 255, 255)  # padding below


def test_same_aspect_fills_the_frame():
    array = to_model_input(Image.new("RGB", (60, 80), RED), (160, 120))
    assert (array[..., 1] < 90).all()


def test_load_model_input_accepts_bytes_and_paths(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(image_bytes(red_square(), "PNG"))
    from_path = load_model_input(path, (32, 24))
    from_bytes = load_model_input(path.read_bytes(), (32, 24))
    assert np.array_equal(from_path, from_bytes)
