"""Damaged and hostile slide files: one line and exit 2, no hang, no abort, nothing read as nonsense."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from bad_input_helpers import (
    PNG,
    SVS,
    corrupt_jpeg,
    digest,
    fails_with_one_line,
    giant_tile_tiff,
    png_of_size,
    run_cli,
    svs_cut_after_first_ifd,
    svs_replacing,
    svs_with_looping_ifd,
    svs_with_mpp,
)

from bcviewer.cli.main import main
from bcviewer.slides import CorruptSlideError, open_slide
from bcviewer.slides.preflight import inspect_tiff


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_named_like_a_slide_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "x.svs"
    os.mkfifo(fifo)
    done = run_cli(["tiles", fifo], timeout=60)  # before the fix: blocked forever in open()
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"bcviewer tiles: {fifo} is not a regular file (it is a named pipe); bcviewer reads only regular files, "
        "so give the slide or image file itself"]  # the one wording of bcviewer.safety, for every file read


def test_giant_declared_tiles_are_refused_before_openslide_allocates(tmp_path: Path) -> None:
    bad = giant_tile_tiff(tmp_path / "giant.tiff")
    before = digest(bad)
    for command in (["tiles", bad], ["info", bad]):
        done = run_cli(command, timeout=120)  # before the fix: SIGABRT from GLib (4 TiB allocation)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "declares 1048576 x 1048576 pixel tiles" in lines[0], done.stderr
        assert "GLib" not in done.stderr
    assert digest(bad) == before


def test_preflight_accepts_the_real_fixtures(test_data: Path) -> None:
    facts = inspect_tiff(SVS)
    assert facts is not None and facts.pages == 4 and facts.aperio and facts.mpp_text == "0.4990"
    assert facts.problems == []
    assert inspect_tiff(PNG) is None


@pytest.mark.parametrize(("make", "reason"), [
    (svs_cut_after_first_ifd, "invalid page offset 1474362"),
    (svs_with_looping_ifd, "invalid circular reference to IFD 0"),
    (lambda out: svs_replacing(out, b"Aperio Image Library v11.2.1 \r\n46000",
                               b"Aperxo Image Library v11.2.1 \r\n46000"), "Aperio description is missing or mangled"),
])
def test_damaged_svs_is_reported_not_read_as_a_plain_image(make, reason: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = make(tmp_path / "damaged.svs")
    before = digest(bad)
    fails_with_one_line(["tiles", bad], capsys, "damaged.svs is an Aperio slide file, but it is damaged", reason)
    with pytest.raises(CorruptSlideError):
        open_slide(bad)
    assert digest(bad) == before


@pytest.mark.parametrize("mpp", ["abc", "0", "-1", "nan", "inf"])
def test_unreadable_aperio_scale_is_said_instead_of_cutting_3x3(mpp: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = svs_with_mpp(tmp_path / f"mpp_{mpp}.svs", mpp)
    with open_slide(bad) as slide:  # the viewer can still show it ...
        assert slide.format == "aperio" and slide.mpp is None
        assert slide.scale_problem is not None and f"MPP = '{mpp}'" in slide.scale_problem
    # ... but nothing cuts tiles from it as if it were a microscopy image without a scale
    fails_with_one_line(["tiles", bad], capsys, f"records its pixel size as MPP = '{mpp}'", "scale is unreadable")


def test_corrupt_jpeg_scan_data_is_surfaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = corrupt_jpeg(tmp_path / "bad.jpg")
    assert main(["tiles", str(tmp_path / "good.jpg")]) == 0  # the same image, intact, still reads
    capsys.readouterr()
    fails_with_one_line(["tiles", bad], capsys, "bad.jpg is damaged: its compressed pixel data is corrupt",
                        "Corrupt JPEG data")


def test_an_image_one_pixel_high_and_a_hundred_million_wide_is_one_line(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad = png_of_size(tmp_path / "line.png", 100_000_000, 1)
    fails_with_one_line(["info", bad], capsys, "declares 100000000 x 1 pixels")


def test_pillow_tag_warnings_become_one_line(tmp_path: Path) -> None:
    import struct

    import numpy as np
    import tifffile
    from PIL import Image

    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.asarray(Image.open(PNG).convert("RGB")), photometric="rgb",
                     software="bcviewer-test", description="plain test image")
    data = bytearray(plain.read_bytes())
    with tifffile.TiffFile(plain) as tif:
        for name in ("Software", "ImageDescription"):  # counts far beyond the file: Pillow warns per tag
            offset = tif.pages[0].tags[name].offset
            data[offset + 4:offset + 8] = struct.pack("<I", 0x7FFF0000)
    noisy = tmp_path / "noisy.tif"
    noisy.write_bytes(bytes(data))
    done = run_cli(["tiles", noisy])  # the real console: Python's last-resort log handler prints the line
    assert done.returncode == 0 and done.stdout.startswith("# 9 tiles, 3 rows x 3 cols")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("noisy.tif: the image libraries reported problems"), lines


def test_nan_and_inf_tile_sizes_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("inf", "nan", "-3"):
        with pytest.raises(SystemExit) as stop:
            main(["tiles", str(SVS), "--tile-um", value])
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("bcviewer tiles: error: argument --tile-um:"), err


def test_tiles_csv_cannot_replace_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "x.png"
    shutil.copy(PNG, image)
    before = digest(image)
    fails_with_one_line(["tiles", image, "--csv", image], capsys, "would overwrite")
    assert digest(image) == before
