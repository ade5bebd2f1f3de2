"""Poison frames for tests: small JPEGs that are slow to decode.

A progressive JPEG is decoded in passes, one per scan, and every pass visits
every 8x8 block of the components it covers. Nothing in the format bounds the
number of scans, so a file can declare a large image, carry one tiny DC scan,
and then repeat an AC refinement scan whose entropy-coded data is a handful of
end-of-band runs ("the next 32,767 blocks hold nothing new"): about 20 bytes per
scan, each costing the decoder a pass over the whole image.

:func:`scan_bomb` writes such a file with a few lines of marker writing, so no
binary test file is committed. Its defaults are the reported bomb: about 46 KB,
declaring 3840x2160 (within the default ``--max-pixels``) with 1500 refinement
scans; ``cv2.imdecode`` takes seconds on it. It is a valid JPEG as far as
libjpeg is concerned (it decodes to a grey image, with warnings at most), so it
exercises the decoder's cost, not its error paths.
"""

from __future__ import annotations

import struct

BLOCK = 8  # a JPEG block is 8x8 samples
MAX_EOB_RUN = 32767  # the longest end-of-band run one symbol codes: EOB14, then 14 extra bits
EOB_CODE_BITS = 4  # our AC table gives EOB0 ... EOB14 one 4-bit code each (0000 ... 1110)


def scan_bomb(width: int = 3840, height: int = 2160, scans: int = 1500) -> bytes:
    """A grayscale progressive JPEG of ``width`` x ``height`` with one DC scan and
    ``scans`` AC refinement scans (so ``scans + 1`` SOS markers in all)."""
    blocks = -(-width // BLOCK) * -(-height // BLOCK)
    parts = [
        b"\xff\xd8",
        _quantization_table(),
        _frame_header(width, height),
        _huffman_tables(),
        _scan_header(0, 0, 0, 0),
        _dc_scan(blocks),
    ]
    refinement = _scan_header(1, 63, 1, 0) + _eob_runs(blocks)
    parts += [refinement] * scans
    parts.append(b"\xff\xd9")
    return b"".join(parts)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _quantization_table() -> bytes:
    return _segment(0xDB, b"\x00" + bytes([1] * 64))  # table 0, 8-bit, all ones


def _frame_header(width: int, height: int) -> bytes:
    # SOF2 (progressive, Huffman), 8-bit samples, one component: id 1, 1x1 sampling, table 0
    return _segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")


def _huffman_tables() -> bytes:
    """DC table 0: one 1-bit code, for category 0 (a zero difference).
    AC table 0: fifteen 4-bit codes, for EOBr (symbol r << 4: a run of 2^r + r extra bits)."""
    dc_counts = bytes([1] + [0] * 15)
    ac_counts = bytes([0, 0, 0, 15] + [0] * 12)
    return _segment(0xC4, b"\x00" + dc_counts + b"\x00") + _segment(
        0xC4, b"\x10" + ac_counts + bytes(r << 4 for r in range(15))
    )


def _scan_header(start: int, end: int, high: int, low: int) -> bytes:
    # one component (id 1, DC table 0, AC table 0), spectral band start..end, approximation bits
    return _segment(0xDA, bytes([1, 1, 0x00, start, end, (high << 4) | low]))


def _dc_scan(blocks: int) -> bytes:
    """Every block's DC difference is 0: one 0 bit (the code for category 0) per block."""
    return _stuffed(_BitWriter().write(0, 1, times=blocks).flush())


def _eob_runs(blocks: int) -> bytes:
    """Cover exactly ``blocks`` blocks with end-of-band runs: EOBr's code, then run - 2^r in r bits."""
    writer = _BitWriter()
    while blocks > 0:
        run = min(blocks, MAX_EOB_RUN)
        r = run.bit_length() - 1
        writer.write(r, EOB_CODE_BITS).write(run - (1 << r), r)
        blocks -= run
    return _stuffed(writer.flush())


def _stuffed(data: bytes) -> bytes:
    """Entropy-coded data: every 0xFF byte is followed by a 0x00, so it is never a marker."""
    return data.replace(b"\xff", b"\xff\x00")


class _BitWriter:
    """Most significant bit first, as JPEG's entropy-coded data is."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.bits = 0
        self.count = 0  # bits waiting in self.bits, fewer than 8 between calls

    def write(self, value: int, length: int, times: int = 1) -> _BitWriter:
        if value == 0 and length == 1 and times > 8:  # many zero bits: whole zero bytes at once
            fill = (8 - self.count) % 8
            self.write(0, 1, fill)
            self.out += bytes((times - fill) // 8)
            return self.write(0, 1, (times - fill) % 8)
        for _ in range(times):
            self.bits = (self.bits << length) | value
            self.count += length
            while self.count >= 8:
                self.count -= 8
                self.out.append((self.bits >> self.count) & 0xFF)
                self.bits &= (1 << self.count) - 1
        return self

    def flush(self) -> bytes:
        """Pad the last byte with 1 bits, as the standard asks."""
        if self.count:
            pad = 8 - self.count
            self.write((1 << pad) - 1, pad)
        return bytes(self.out)
