"""Builders of damaged inputs for the tests/test_bad_input_*.py files, from the small fixtures.

Every bad file is generated in tmp_path from tests/data, so the tests need nothing else. The
checks all tests share: the command exits with 2, prints exactly one line on stderr (no
traceback), and leaves the files it was given byte-for-byte as they were.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import tifffile

from bcviewer.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SVS = DATA / "slides" / "cmu_small_region.svs"
BOXES = DATA / "slides" / "edge-cases" / "boxes.tiff"
PNG = DATA / "breakhis" / "SOB_B_A-14-22549AB-100-001.png"
SVS_SECOND_IFD = 1474362  # offset of the thumbnail IFD in cmu_small_region.svs


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(*paths: Path) -> dict[Path, str]:
    return {p: digest(p) for p in paths if p.exists()}


def fails_with_one_line(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """Run the CLI in process; assert exit 2 and one stderr line holding every needle."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def run_cli(args: list[str], timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console command in a child process (for inputs that could kill or hang a process)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bcviewer", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=full_env)


# ---- slides -------------------------------------------------------------------------------------
def giant_tile_tiff(out: Path, side: int = 1_048_576) -> Path:
    """The generic tiled TIFF fixture, with its first IFD declaring side x side pixel tiles."""
    shutil.copy(BOXES, out)
    with tifffile.TiffFile(out, mode="r+b") as tif:
        page = tif.pages[0]
        page.tags["TileWidth"].overwrite(side, dtype=4)
        page.tags["TileLength"].overwrite(side, dtype=4)
    return out


def svs_cut_after_first_ifd(out: Path) -> Path:
    out.write_bytes(SVS.read_bytes()[:SVS_SECOND_IFD])
    return out


def svs_with_looping_ifd(out: Path) -> Path:
    data = bytearray(SVS.read_bytes())
    first = struct.unpack("<I", data[4:8])[0]
    entries = struct.unpack("<H", data[first:first + 2])[0]
    pointer = first + 2 + 12 * entries
    data[pointer:pointer + 4] = struct.pack("<I", first)  # the first IFD's "next" is itself
    out.write_bytes(bytes(data))
    return out


def svs_replacing(out: Path, old: bytes, new: bytes) -> Path:
    data = SVS.read_bytes()
    assert old in data
    out.write_bytes(data.replace(old, new.ljust(len(old)) if len(new) < len(old) else new))
    return out


def svs_with_mpp(out: Path, text: str) -> Path:
    return svs_replacing(out, b"MPP = 0.4990", b"MPP = " + text.encode())


def corrupt_jpeg(out: Path) -> Path:
    """A BreakHis JPEG with 100 bytes of its scan data replaced by a fixed pattern."""
    from PIL import Image

    good = out.with_name("good.jpg")
    Image.open(PNG).convert("RGB").save(good, quality=90)
    data = bytearray(good.read_bytes())
    start = len(data) // 2
    data[start:start + 100] = bytes((i * 37) % 251 for i in range(100))
    out.write_bytes(bytes(data))
    return out


def png_of_size(out: Path, width: int, height: int) -> Path:
    """A valid PNG header and tiny compressed data declaring width x height RGB pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" + b"\xc8" * (width * 3)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    out.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return out
