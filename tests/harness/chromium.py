"""Headless Chromium for tests: the flags that keep it off the network, and a PNG reader.

The reader decodes what Chromium writes (8-bit RGB/RGBA, non-interlaced) so screenshots can
be checked pixel by pixel without an imaging library.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

# Headless, no sandbox (root in CI), and every background network feature off.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def read_png(data: bytes) -> np.ndarray:
    """Decodes a PNG into an (height, width, channels) uint8 array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += [body] if kind == b"IDAT" else []
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, f"bit depth {depth}"
    assert color in (2, 6), f"colour type {color}"
    assert interlace == 0, "interlaced"
    bpp = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    rows = raw.reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prior = np.zeros(width * bpp, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            current = line
        elif kind == 2:
            current = (line + prior) & 0xFF
        elif kind == 1:
            pixels = line.reshape(width, bpp)
            current = (np.cumsum(pixels, axis=0) & 0xFF).ravel()
        else:
            current = _unfilter_sequential(int(kind), line.tolist(), prior.tolist(), bpp)
        out[y] = current
        prior = np.asarray(current, dtype=np.int32)
    return out.reshape(height, width, bpp)


def _unfilter_sequential(kind: int, line: list[int], prior: list[int], bpp: int) -> np.ndarray:
    """Average (3) and Paeth (4) filters, which depend on the byte just decoded."""
    out = [0] * len(line)
    for i, value in enumerate(line):
        a = out[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        if kind == 3:
            out[i] = (value + ((a + b) >> 1)) & 0xFF
            continue
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[i] = (value + predictor) & 0xFF
    return np.asarray(out, dtype=np.int32)
