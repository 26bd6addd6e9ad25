"""A tiny RGB canvas and PNG writer for the demo (stdlib only: zlib and
struct), with a 3x5 pixel font for labels.

The demo must not depend on matplotlib or Pillow, and a PNG is just a few
zlib-compressed rows of bytes behind three checksummed chunks.
"""

from __future__ import annotations

import struct
import zlib
from typing import Sequence, Tuple

RGB = Tuple[int, int, int]

# 3x5 glyphs, '#' = ink. Only what the demo's labels use, plus digits and
# letters so that labels can change freely.
_GLYPHS = {
    "A": (".#.", "#.#", "###", "#.#", "#.#"),
    "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"),
    "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"),
    "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
    "J": ("..#", "..#", "..#", "#.#", ".#."),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"),
    "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#.#", "###", "###", "#.#", "#.#"),
    "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."),
    "P": ("##.", "#.#", "##.", "#..", "#.."),
    "Q": (".#.", "#.#", "#.#", "##.", ".##"),
    "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"),
    "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#.#", "#.#", "###", "###", "#.#"),
    "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."),
    "Z": ("###", "..#", ".#.", "#..", "###"),
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("##.", "..#", ".#.", "#..", "###"),
    "3": ("##.", "..#", ".#.", "..#", "##."),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "##.", "..#", "##."),
    "6": (".##", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "##."),
    " ": ("...", "...", "...", "...", "..."),
    "-": ("...", "...", "###", "...", "..."),
    "%": ("#.#", "..#", ".#.", "#..", "#.#"),
    ".": ("...", "...", "...", "...", ".#."),
    ",": ("...", "...", "...", ".#.", "#.."),
    ":": ("...", ".#.", "...", ".#.", "..."),
    "/": ("..#", "..#", ".#.", "#..", "#.."),
    "(": (".#.", "#..", "#..", "#..", ".#."),
    ")": (".#.", "..#", "..#", "..#", ".#."),
    ">": ("#..", ".#.", "..#", ".#.", "#.."),
    "<": ("..#", ".#.", "#..", ".#.", "..#"),
    "=": ("...", "###", "...", "###", "..."),
    "+": ("...", ".#.", "###", ".#.", "..."),
}


class Canvas:
    """An RGB image held as one bytearray (3 bytes per pixel, rows top to
    bottom)."""

    def __init__(self, width: int, height: int, background: RGB = (0, 0, 0)) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def fill(self, x: int, y: int, w: int, h: int, color: RGB) -> None:
        """Fill a rectangle (clipped to the canvas)."""
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        run = bytes(color) * (x1 - x0)
        for yy in range(y0, y1):
            i = 3 * (yy * self.width + x0)
            self.pixels[i:i + len(run)] = run

    def paste_row(self, x: int, y: int, rgb_row: bytes, repeat: int = 1) -> None:
        """Copy a row of RGB bytes at (x, y), on ``repeat`` consecutive
        lines (the caller scales horizontally itself)."""
        n = min(len(rgb_row) // 3, self.width - x)
        for yy in range(y, min(self.height, y + repeat)):
            i = 3 * (yy * self.width + x)
            self.pixels[i:i + 3 * n] = rgb_row[:3 * n]

    def text(self, x: int, y: int, s: str, color: RGB, scale: int = 2) -> int:
        """Draw ``s`` (upper-cased) with the 3x5 font; returns the x after
        it. Characters without a glyph are drawn as blanks."""
        for ch in s.upper():
            glyph = _GLYPHS.get(ch, _GLYPHS[" "])
            for gy, row in enumerate(glyph):
                for gx, cell in enumerate(row):
                    if cell == "#":
                        self.fill(x + gx * scale, y + gy * scale, scale, scale, color)
            x += 4 * scale
        return x

    @staticmethod
    def text_width(s: str, scale: int = 2) -> int:
        """Width in pixels of ``s`` drawn by :meth:`text` (no trailing gap)."""
        return max(0, 4 * scale * len(s) - scale)

    def png(self) -> bytes:
        """The image as PNG bytes (8-bit RGB, no filtering)."""
        stride = 3 * self.width
        raw = bytearray()
        for y in range(self.height):
            raw.append(0)  # filter type None
            raw += self.pixels[y * stride:(y + 1) * stride]
        return write_png_bytes(self.width, self.height, bytes(raw))

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.png())


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_bytes(width: int, height: int, filtered_rows: bytes) -> bytes:
    """PNG file bytes from already filtered scanlines (a filter byte then
    3*width RGB bytes per row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(filtered_rows, 9))
        + _chunk(b"IEND", b"")
    )


def scale_color(c: RGB, f: float) -> RGB:
    return (min(255, int(c[0] * f)), min(255, int(c[1] * f)), min(255, int(c[2] * f)))


def hstack(colors: Sequence[RGB], widths: Sequence[int]) -> bytes:
    """One row of pixels: colors[i] repeated widths[i] times."""
    out = bytearray()
    for c, w in zip(colors, widths):
        out += bytes(c) * w
    return bytes(out)
