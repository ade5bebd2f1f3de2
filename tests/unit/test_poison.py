"""Decode-cost bombs: the bomb builder, and the header check that stops them."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from live2d_pose.imageinfo import DEFAULT_MAX_SCAN_PIXELS, ImageError, check_limits, inspect
from live2d_pose.testing.poison import scan_bomb


def test_bomb_is_a_small_decodable_progressive_jpeg():
    bomb = scan_bomb()
    assert 40_000 < len(bomb) < 56_000  # the reported bomb's ~46 KB
    assert bomb.count(b"\xff\xda") == 1501  # one DC scan, 1500 refinement scans
    small = scan_bomb(64, 48, scans=5)  # same construction, cheap to decode: libjpeg takes it
    image = cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.shape == (48, 64)


def _jpeg(width: int, height: int, progressive: bool = False, grey: bool = False) -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (height, width) if grey else (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])[1].tobytes()


@pytest.mark.parametrize(
    "width,height,progressive,grey,scans",
    [
        (640, 480, False, False, 1),
        (3840, 2160, False, False, 1),
        (3840, 2160, True, False, 10),  # libjpeg's progression: 10 scans for colour
        (3840, 2160, True, True, 6),  # and 6 for grey
    ],
)
def test_normal_jpegs_pass_the_decode_budget(width, height, progressive, grey, scans):
    info = inspect(_jpeg(width, height, progressive, grey))
    assert (info.width, info.height, info.scans, info.components) == (width, height, scans, 1 if grey else 3)
    check_limits(info, max_pixels=3840 * 2160)  # the defaults


def test_pillow_progressive_jpeg_passes():
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.zeros((2160, 3840, 3), np.uint8)).save(out, "JPEG", progressive=True)
    check_limits(inspect(out.getvalue()), max_pixels=3840 * 2160)


def test_scan_bomb_is_too_complex():
    bomb = scan_bomb()
    for data in (bomb, memoryview(bomb)):  # ingest has bytes, a worker a memoryview
        info = inspect(data)
        assert (info.width, info.height, info.scans, info.components) == (3840, 2160, 1501, 1)
        with pytest.raises(ImageError) as err:
            check_limits(info, max_pixels=3840 * 2160)
        assert err.value.code == "image_too_complex"
        assert "1501 scans" in str(err.value)
    # the budget is scans x pixels: the same 1500 scans of a thumbnail cost little and pass
    check_limits(inspect(scan_bomb(64, 48, scans=1500)), max_pixels=3840 * 2160)
    assert DEFAULT_MAX_SCAN_PIXELS < 1501 * 1280 * 720  # ...while a 720p one is over the budget


def test_scans_of_an_exif_thumbnail_do_not_count():
    """Phones put a JPEG thumbnail (with its own scans) in an APP1 segment before the frame header."""
    thumbnail = _jpeg(160, 120, progressive=True)
    app1 = b"\xff\xe1" + (len(thumbnail) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + thumbnail
    photo = _jpeg(640, 480)
    info = inspect(photo[:2] + app1 + photo[2:])
    assert (info.width, info.height, info.scans) == (640, 480, 1)


def test_frame_header_with_impossible_component_count():
    bomb = bytearray(scan_bomb(64, 48, scans=1))
    sof = bomb.index(b"\xff\xc2")
    bomb[sof + 9] = 200  # Nf: JPEG allows 255, no decoder handles more than 4
    with pytest.raises(ImageError) as err:
        inspect(bytes(bomb))
    assert err.value.code == "corrupt_image"
