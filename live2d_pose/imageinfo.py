"""Read an encoded image's format and size from its header, without decoding it.

Ingest (and, defensively, each worker) must reject bad frames (not an image, truncated, a decompression bomb)
before they reach a worker, but must not decode on its event loop. A JPEG,
PNG or WebP header says the image's size in its first bytes, so these checks
cost microseconds. The worker still decodes defensively: this is a filter,
not a proof that the image is valid.

Decode cost is bounded too, not only size. A progressive JPEG decodes in one
pass over the image per scan, and a ~46 KB file can declare 3840x2160 and hold
1500 scans (live2d_pose/testing/poison.py builds one): seconds of decoding.
So a JPEG's scans are counted (its SOS markers: inside entropy-coded data a
0xFF byte is always followed by 0x00 or an RSTn marker, so ``bytes.count``
finds exactly the scan headers, at C speed) and ``scans x width x height``
must stay within a budget. AC scans, the cheap-to-write kind, cover one
component each, so this bounds them per component; the frame header's
component count is held to the 1-4 a decoder handles.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class ImageError(ValueError):
    """A binary frame that is not an acceptable image; ``code`` goes to the camera."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpeg", "png" or "webp"
    width: int
    height: int
    scans: int = 1  # decoding passes over the image: a progressive JPEG's scans
    components: int = 3  # colour channels coded (a JPEG's frame header says; others: at most 4)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def scan_pixels(self) -> int:
        """The decode-cost measure: pixels visited over all passes (see the module doc)."""
        return self.scans * self.pixels


JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
JPEG_SOS = b"\xff\xda"
MAX_JPEG_COMPONENTS = 4  # grey, YCbCr, CMYK/YCCK: what libjpeg (and OpenCV) decode
# Default decode budget (scans x pixels): a 3840x2160 JPEG with 16 scans. Camera JPEGs are
# baseline (1 scan); libjpeg's progressive mode writes 10 scans (6 for grey).
DEFAULT_MAX_SCAN_PIXELS = 16 * 3840 * 2160
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# SOF markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn have no length field


def inspect(data: bytes | memoryview) -> ImageInfo:
    """Format and size of an encoded image; raises ImageError when it is not one we accept."""
    head = bytes(data[:16])
    if head.startswith(JPEG_SOI):
        return _inspect_jpeg(data)
    if head.startswith(PNG_SIGNATURE):
        return _inspect_png(data)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _inspect_webp(data)
    raise ImageError("not_an_image", "binary frame is not a JPEG, PNG or WebP image")


def _inspect_jpeg(data: bytes | memoryview) -> ImageInfo:
    # Some encoders pad after EOI; a frame cut off in transit has no EOI at all.
    if JPEG_EOI not in bytes(data[-32:]):
        raise ImageError("truncated_image", "JPEG frame is truncated (no end-of-image marker)")
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            raise ImageError("corrupt_image", f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", bytes(data[pos + 2 : pos + 4]))
        if length < 2:
            raise ImageError("corrupt_image", "JPEG segment with an impossible length")
        if marker in _JPEG_SOF:
            if pos + 10 > end:
                break
            height, width, components = struct.unpack(">HHB", bytes(data[pos + 5 : pos + 10]))
            if not 1 <= components <= MAX_JPEG_COMPONENTS:
                raise ImageError(
                    "corrupt_image",
                    f"JPEG frame header declares {components} colour "
                    f"components (1 to {MAX_JPEG_COMPONENTS} are decodable)",
                )
            scans = _count(data, JPEG_SOS, pos)  # after the frame header: not an EXIF thumbnail's
            return _checked(ImageInfo("jpeg", width, height, scans, components))
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise ImageError("corrupt_image", "JPEG has no frame header")


def _inspect_png(data: bytes | memoryview) -> ImageInfo:
    if len(data) < 33 or bytes(data[12:16]) != b"IHDR":
        raise ImageError("truncated_image", "PNG frame is truncated (no IHDR)")
    width, height = struct.unpack(">II", bytes(data[16:24]))
    if bytes(data[-8:-4]) != b"IEND":
        raise ImageError("truncated_image", "PNG frame is truncated (no IEND)")
    return _checked(ImageInfo("png", width, height))


def _inspect_webp(data: bytes | memoryview) -> ImageInfo:
    (riff_size,) = struct.unpack("<I", bytes(data[4:8]))
    if riff_size + 8 > len(data):
        raise ImageError("truncated_image", "WebP frame is truncated")
    chunk = bytes(data[12:16])
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", bytes(data[26:30]))
        return _checked(ImageInfo("webp", width & 0x3FFF, height & 0x3FFF))
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(bytes(data[21:25]), "little")
        return _checked(ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(bytes(data[24:27]), "little") + 1
        height = int.from_bytes(bytes(data[27:30]), "little") + 1
        return _checked(ImageInfo("webp", width, height))
    raise ImageError("corrupt_image", "WebP frame has no image header")


def _count(data: bytes | memoryview, pattern: bytes, start: int) -> int:
    if isinstance(data, memoryview):  # only bytes has a C-speed count
        data = data.tobytes()
    return data.count(pattern, start)


def _checked(info: ImageInfo) -> ImageInfo:
    if info.width <= 0 or info.height <= 0:
        raise ImageError("corrupt_image", f"{info.format} header declares an empty image")
    return info


def check_limits(info: ImageInfo, max_pixels: int, max_scan_pixels: int = DEFAULT_MAX_SCAN_PIXELS) -> None:
    """Reject decompression bombs: a small file that declares a huge image
    (``image_too_large``) or one that takes many passes to decode (``image_too_complex``)."""
    if info.pixels > max_pixels:
        raise ImageError(
            "image_too_large",
            f"image is {info.width}x{info.height} = {info.pixels} pixels; the limit is {max_pixels}",
        )
    if info.scan_pixels > max_scan_pixels:
        raise ImageError(
            "image_too_complex",
            f"{info.format} image has {info.scans} scans of {info.width}x{info.height} pixels "
            f"= {info.scan_pixels} to decode; the limit is {max_scan_pixels} (scans x pixels)",
        )
