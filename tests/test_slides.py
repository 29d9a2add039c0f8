"""Slide and image reading: real fixtures, OpenSlide edge cases and corrupt files made here."""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bcviewer.slides import (
    CorruptSlideError,
    EmptySlideFileError,
    ImageTooLargeError,
    RegionReadError,
    SlideClosedError,
    SlideError,
    SlideIsDirectoryError,
    SlideNotFoundError,
    SlidePermissionError,
    UnsupportedFormatError,
    composite_over_white,
    open_slide,
)

SVS = "slides/cmu_small_region.svs"
EDGE = "slides/edge-cases"
BENIGN_PNG = "breakhis/SOB_B_A-14-22549AB-100-001.png"
PC_PNG = "breakhis/SOB_M_PC-14-12465-100-001.png"


def test_aperio_svs_metadata(test_data: Path) -> None:
    with open_slide(test_data / SVS) as s:
        assert s.format == "aperio" and s.vendor == "aperio"
        assert s.dimensions == (2220, 2967)
        assert s.level_count == 1 and s.level_downsamples == (1.0,)
        assert s.mpp == pytest.approx(0.499)
        assert s.objective_power == 20.0
        assert s.associated_names == ("label", "macro", "thumbnail")
        assert s.associated_image("macro").shape == (431, 1280, 3)
        assert s.is_pyramid


def test_svs_region_pixels_and_thumbnail(test_data: Path) -> None:
    with open_slide(test_data / SVS) as s:
        region = s.read_region(0, 1000, 1000, 4, 1)
        assert region.dtype == np.uint8 and region.shape == (1, 4, 3)
        assert region[0].tolist() == [[67, 34, 65], [18, 5, 53], [38, 0, 55], [85, 24, 83]]
        assert s.thumbnail(512).shape == (512, 383, 3)
        assert s.thumbnail((100, 100)).shape == (100, 75, 3)


def test_generic_tiff_pyramid_levels_and_colours(test_data: Path) -> None:
    with open_slide(test_data / EDGE / "boxes.tiff") as s:
        assert s.format == "generic-tiff"
        assert s.level_dimensions == ((300, 250), (150, 125), (75, 62), (37, 31))
        assert s.level_downsamples[:2] == (1.0, 2.0)
        assert s.mpp == pytest.approx(352.7778, rel=1e-5)  # 28.35 px/cm in the TIFF tags
        full = s.read_region(0, 0, 0, 300, 250)
        assert full[0, 0].tolist() == [255, 255, 255]
        assert full[125, 150].tolist() == [0, 0, 255]
        assert s.read_region(2, 0, 0, 75, 62).shape == (62, 75, 3)
        assert s.best_level_for_downsample(5.0) == 2
        assert s.best_level_for_downsample(0.5) == 0


def test_breakhis_png_is_one_level_without_mpp(test_data: Path) -> None:
    with open_slide(test_data / PC_PNG) as s:
        assert s.format == "png" and s.vendor is None and not s.is_pyramid
        assert s.dimensions == (700, 456)
        assert s.levels[0].downsample == 1.0 and s.level_count == 1
        assert s.mpp is None and s.objective_power is None
        assert s.associated_names == ()


def test_region_outside_image_is_white(test_data: Path) -> None:
    with open_slide(test_data / BENIGN_PNG) as s:
        region = s.read_region(0, 690, 450, 20, 20)
        assert region.shape == (20, 20, 3)
        assert (region[15:, :] == 255).all() and (region[:, 15:] == 255).all()
        direct = s.read_region(0, 0, 0, 700, 460)
        assert np.array_equal(region[:10, :10], direct[450:460, 690:700])
    with open_slide(test_data / EDGE / "small.svs") as s:  # 16x16 slide
        assert s.read_region(0, 10, 10, 10, 10)[-1, -1].tolist() == [255, 255, 255]


def test_alpha_is_composited_over_white() -> None:
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [200, 100, 0, 128]]], dtype=np.uint8)
    assert composite_over_white(rgba).tolist() == [[[255, 255, 255], [0, 0, 0], [227, 177, 127]]]


def test_rgba_png_is_composited(tmp_path: Path) -> None:
    from PIL import Image

    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[:2] = (255, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    with open_slide(tmp_path / "alpha.png") as s:
        px = s.read_region(0, 0, 0, 4, 4)
    assert px[0, 0].tolist() == [255, 0, 0] and px[3, 3].tolist() == [255, 255, 255]


def test_concurrent_reads_match_sequential(test_data: Path) -> None:
    coords = [(x, y) for x in range(0, 2000, 400) for y in range(0, 2800, 400)]
    with open_slide(test_data / SVS) as s:
        sequential = [s.read_region(0, x, y, 128, 128) for x, y in coords]
        with ThreadPoolExecutor(4) as pool:
            threaded = list(pool.map(lambda c: s.read_region(0, c[0], c[1], 128, 128), coords))
    assert all(np.array_equal(a, b) for a, b in zip(sequential, threaded))


def test_read_after_close_raises(test_data: Path) -> None:
    s = open_slide(test_data / SVS)
    s.close()
    s.close()  # idempotent
    with pytest.raises(SlideClosedError):
        s.read_region(0, 0, 0, 8, 8)


def test_bad_region_requests(test_data: Path) -> None:
    with open_slide(test_data / BENIGN_PNG) as s:
        with pytest.raises(RegionReadError, match="level 1 does not exist"):
            s.read_region(1, 0, 0, 8, 8)
        with pytest.raises(RegionReadError, match="positive size"):
            s.read_region(0, 0, 0, 0, 8)
        with pytest.raises(RegionReadError, match="no 'label' image"):
            s.associated_image("label")


# ---- failures -------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SlideNotFoundError, match="does not exist"):
        open_slide(tmp_path / "nope.svs")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SlideIsDirectoryError, match="is a folder"):
        open_slide(tmp_path)


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.svs").write_bytes(b"")
    with pytest.raises(EmptySlideFileError, match="empty \\(0 bytes\\)"):
        open_slide(tmp_path / "empty.svs")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_no_permission(tmp_path: Path, test_data: Path) -> None:
    p = tmp_path / "locked.png"
    shutil.copy(test_data / BENIGN_PNG, p)
    p.chmod(0)
    with pytest.raises(SlidePermissionError, match="permission denied"):
        open_slide(p)


def test_permission_error_from_the_os_is_translated(tmp_path: Path, test_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "locked.png"
    shutil.copy(test_data / BENIGN_PNG, p)
    real_open = Path.open

    def deny(self: Path, *a: object, **k: object) -> object:
        if self == p:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *a, **k)

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(SlidePermissionError, match="permission denied"):
        open_slide(p)


def test_text_file_named_svs(tmp_path: Path) -> None:
    p = tmp_path / "notes.svs"
    p.write_text("this is not a slide\n")
    with pytest.raises(UnsupportedFormatError, match=r"notes.svs is not a slide .*\.svs extension"):
        open_slide(p)


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "random.bin"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UnsupportedFormatError, match="Supported: whole slides"):
        open_slide(p)


def test_truncated_png(tmp_path: Path, test_data: Path) -> None:
    data = (test_data / BENIGN_PNG).read_bytes()
    p = tmp_path / "truncated.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptSlideError, match="PNG image but its pixel data is damaged"):
        open_slide(p)


def test_truncated_svs(tmp_path: Path, test_data: Path) -> None:
    data = (test_data / SVS).read_bytes()
    p = tmp_path / "truncated.svs"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(SlideError) as info:
        with open_slide(p) as s:
            s.read_region(0, 0, 0, s.dimensions[0], s.dimensions[1])
    assert isinstance(info.value, (CorruptSlideError, RegionReadError, UnsupportedFormatError))
    assert "truncated.svs" in str(info.value) or "cannot be read" in str(info.value)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_png_with_huge_declared_size(tmp_path: Path) -> None:
    p = tmp_path / "huge.png"
    p.write_bytes(_png_header_only(60000, 60000))
    with pytest.raises(ImageTooLargeError, match=r"60000 x 60000 pixels \(3600 Mpx\), more than the 150 Mpx"):
        open_slide(p)


def test_openslide_unopenable_tiff(test_data: Path) -> None:
    with pytest.raises(CorruptSlideError, match="unopenable.tiff looks like a generic-tiff slide but OpenSlide cannot open it"):
        open_slide(test_data / EDGE / "unopenable.tiff")


def test_openslide_unreadable_svs_opens_but_read_fails(test_data: Path) -> None:
    with open_slide(test_data / EDGE / "unreadable.svs") as s:
        assert s.dimensions == (16, 16)
        with pytest.raises(RegionReadError, match="cannot be read; the slide file is damaged"):
            s.read_region(0, 0, 0, 16, 16)


@pytest.mark.shared
def test_shared_edge_cases_match_fixtures(shared_data: Path, test_data: Path) -> None:
    for f in sorted((shared_data / "slides" / "edge-cases").iterdir()):
        assert (test_data / EDGE / f.name).read_bytes() == f.read_bytes()


@pytest.mark.shared
def test_plain_rgb_tiff(shared_data: Path) -> None:
    with open_slide(shared_data / "slides" / "kidney-48-5.tif") as s:
        assert s.format == "tiff" and s.dimensions == (1493, 901) and s.level_count == 1
        assert s.read_region(0, 0, 0, 32, 32).shape == (32, 32, 3)


@pytest.mark.shared
def test_every_breakhis_image_opens(shared_data: Path) -> None:
    sizes = set()
    for p in sorted((shared_data / "breakhis").rglob("*.png")):
        with open_slide(p) as s:
            sizes.add(s.dimensions)
    assert sizes == {(700, 460), (700, 456)}
