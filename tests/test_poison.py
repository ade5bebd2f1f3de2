"""Decode-cost bombs (issue 9, item 1): the bomb builder, and the header check that stops them."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from live2d_pose.imageinfo import DEFAULT_MAX_SCAN_PIXELS, ImageError, check_limits, inspect
from live2d_pose.testing.poison import scan_bomb


def test_bomb_is_a_small_decodable_progressive_jpeg():
    bomb = scan_bomb()
    assert 40_000 < len(bomb) < 56_000  # the issue's ~46 KB
    assert bomb.count(b"\xff\xda") == 1501  # one DC scan, 1500 refinement scans
    small = scan_bomb(64, 48, scans=5)  # same construction, cheap to decode: libjpeg takes it
    image = cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.shape == (48, 64)
