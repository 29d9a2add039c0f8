"""Outputs that would destroy a file (issue 23, "data loss"): a device, pipe, socket or folder given
as an output, and an existing file of another kind (a second label project, an image, JSON for a
CSV). Each is refused with one line and exit 2 before anything is written, and the file it named
is left as it was; ``-`` writes to standard output directly."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_input_helpers import PNG, ROOT, SVS, digest, fails_with_one_line, run_cli
from inference_helpers import save_tiny_model
from PIL import Image

from bcviewer.cli.main import main
from bcviewer.output_kinds import content_kind
from bcviewer.safety import FileSafetyError, OutputWriteError, atomic_write_text

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def profile(test_data: Path, tmp_path: Path) -> Path:
    path = tmp_path / "profile.csv"
    shutil.copy(test_data / "genes" / "tcga_er_pam50_160.csv", path)
    return path


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Path:
    path = tmp_path_factory.mktemp("proj") / "a.bcv"
    assert main(["labels", "import", str(path), str(test_data / "breakhis")]) == 0
    return path


@pytest.fixture()
def projects(built_project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two valid projects: ``a.bcv`` and a second one, ``b.bcv``."""
    a, b = tmp_path / "a.bcv", tmp_path / "b.bcv"
    shutil.copy(built_project, a)
    shutil.copy(built_project, b)
    return a, b


@pytest.fixture()
def dev_full() -> Iterator[Path]:
    """The real /dev/full; should a regression replace it, it is made a device again (root only)."""
    path = Path("/dev/full")
    if not path.exists() or not stat.S_ISCHR(path.stat().st_mode):
        pytest.skip("this system has no /dev/full character device")
    yield path
    if not stat.S_ISCHR(path.stat().st_mode) and os.geteuid() == 0:
        path.unlink()
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        pytest.fail("/dev/full had been replaced by a regular file (restored)")


# ---- 1. a device, pipe, socket or folder is never replaced ----------------------------------------
def test_dev_full_as_genes_out_is_refused_and_stays_a_device(dev_full: Path, profile: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with_one_line(["genes", "predict", profile, "--out", dev_full], capsys,
                               "--out /dev/full is a device, not a regular file", "Nothing was written")
    assert "wrote" not in line
    assert stat.S_ISCHR(dev_full.stat().st_mode)
    assert dev_full.stat().st_rdev == os.makedev(1, 7)


def test_force_never_replaces_a_device(dev_full: Path, profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with_one_line(["genes", "predict", profile, "--out", dev_full, "--force"], capsys, "is a device")
    assert stat.S_ISCHR(dev_full.stat().st_mode)


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "out.csv"
    os.mkfifo(path)
    return path


# Every command that writes a named file; a FIFO there once blocked tiles' open() or was renamed over.
FIFO_COMMANDS = {
    "genes predict --out": lambda p, proj, out: ["genes", "predict", p, "--out", out],
    "labels export --csv": lambda p, proj, out: ["labels", "export", proj, "--csv", out],
    "tiles --csv": lambda p, proj, out: ["tiles", SVS, "--tile-px", "512", "--csv", out],
    "qc --csv": lambda p, proj, out: ["qc", PNG, "--csv", out, "--quiet"],
    "selflearn --json": lambda p, proj, out: ["selflearn", proj, "--json", out, "--rounds", "1"],
    "evaluate --json": lambda p, proj, out: ["evaluate", "breakhis-100x", p.parent, "--json", out],
}


@pytest.mark.parametrize("command", sorted(FIFO_COMMANDS))
def test_a_fifo_as_an_output_is_refused_without_blocking(command: str, profile: Path, projects: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    fifo = _fifo(tmp_path)
    args = FIFO_COMMANDS[command](profile, projects[0], fifo)
    result = run_cli(args, timeout=60)  # a child process: a regression would hang, not fail
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert any(f"{fifo} is a named pipe, not a regular file" in line for line in lines), result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.parametrize("command", sorted(FIFO_COMMANDS))
def test_a_folder_as_an_output_file_is_refused(command: str, profile: Path, projects: tuple[Path, Path],
                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "out.csv"
    (folder / "kept").mkdir(parents=True)
    args = FIFO_COMMANDS[command](profile, projects[0], folder)
    fails_with_one_line(args, capsys, f"{folder} is a folder")
    assert (folder / "kept").is_dir()


def test_a_socket_as_an_output_is_refused(profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        fails_with_one_line(["genes", "predict", profile, "--out", path], capsys, "is a socket")
    assert stat.S_ISSOCK(path.stat().st_mode)


def test_the_atomic_writer_never_renames_over_a_fifo(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path)
    with pytest.raises(OutputWriteError, match="is a named pipe, not a regular file; it was not replaced"):
        atomic_write_text(fifo, "x\n")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary file left


def test_dash_writes_to_standard_output_directly(profile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["genes", "predict", str(profile), "--out", "-"]) == 0
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert rows[0] == "sample,model,p,predicted,gene_coverage,scaling,scaling_reason"
    assert len(rows) == 161  # the header and the 160 TCGA samples
    assert "wrote 160 predictions to standard output" in captured.err
    assert not (tmp_path / "-").exists()


# ---- 2. an existing file of another kind ----------------------------------------------------------
def test_a_second_project_as_labels_export_csv_target_is_kept(projects: tuple[Path, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    a, b = projects
    before = digest(b)
    fails_with_one_line(["labels", "export", a, "--csv", b], capsys,
                        f"--csv {b} already holds an SQLite database", "left unchanged")
    fails_with_one_line(["labels", "export", a, "--csv", b, "--force"], capsys, "even with --force")
    assert digest(b) == before
    assert main(["labels", "stats", str(b)]) == 0  # still a working project with its 36 labels
    assert capsys.readouterr().out.splitlines()[1].split() == ["100X", "18", "18"]


def test_a_project_named_like_a_geojson_file_is_not_replaced(projects: tuple[Path, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    a, b = projects
    folder = tmp_path / "gj"
    folder.mkdir()
    target = folder / "SOB_B_A-14-22549AB-100-001.geojson"  # the name the first fixture image gets
    shutil.copy(b, target)
    before = digest(target)
    fails_with_one_line(["labels", "export", a, "--geojson", folder], capsys, f"{target} already holds an SQLite")
    assert digest(target) == before
    assert sorted(p.name for p in folder.iterdir()) == [target.name]  # checked before the first file is written


def test_an_image_is_replaced_by_a_csv_only_with_force(profile: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result.csv"
    shutil.copy(PNG, out)
    before = digest(out)
    fails_with_one_line(["genes", "predict", profile, "--out", out], capsys,
                        f"--out {out} already holds a PNG image, not CSV", "add --force")
    assert digest(out) == before
    assert main(["genes", "predict", str(profile), "--out", str(out), "--force"]) == 0
    assert out.read_text().splitlines()[0] == "sample,model,p,predicted,gene_coverage,scaling,scaling_reason"


def test_a_csv_is_replaced_by_the_next_run(profile: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.csv"
    out.write_text("sample,model,p,predicted,gene_coverage\nold,run,0.5,Positive,1.0\n")
    assert main(["genes", "predict", str(profile), "--out", str(out)]) == 0  # same kind: a re-run, no --force
    assert len(out.read_text().splitlines()) == 161


def test_a_slide_is_not_replaced_by_tiles_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.svs"
    shutil.copy(SVS, other)
    before = digest(other)
    fails_with_one_line(["tiles", SVS, "--tile-px", "512", "--csv", other], capsys, "already holds a TIFF image")
    assert digest(other) == before


def test_json_is_not_replaced_by_a_csv_nor_a_csv_by_json(profile: Path, projects: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"auc": 0.91}\n')
    fails_with_one_line(["qc", PNG, "--csv", report, "--quiet"], capsys, "already holds JSON, not CSV")
    table = tmp_path / "table.csv"
    shutil.copy(profile, table)
    fails_with_one_line(["selflearn", projects[0], "--json", table, "--rounds", "1"], capsys,
                        "already holds text, not JSON")
    assert report.read_text() == '{"auc": 0.91}\n'
    assert digest(table) == digest(profile)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=3)


def test_predict_refuses_a_project_where_its_tiles_csv_goes(tmp_path: Path, built_project: Path, tiny_model: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / PNG.stem).mkdir(parents=True)
    shutil.copy(built_project, out / PNG.stem / "tiles.csv")
    before = digest(out / PNG.stem / "tiles.csv")
    fails_with_one_line(["predict", PNG, "--out", out, "--model", tiny_model, "--device", "cpu", "--quiet"], capsys,
                        "tiles.csv already holds an SQLite database")
    assert digest(out / PNG.stem / "tiles.csv") == before
    assert not (out / "summary.csv").exists()


def test_predict_refuses_a_file_as_its_out_folder(tmp_path: Path, tiny_model: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.write_text("notes\n")
    fails_with_one_line(["predict", PNG, "--out", out, "--model", tiny_model, "--device", "cpu", "--quiet"], capsys, f"--out {out} is a file, not a folder")
    assert out.read_text() == "notes\n"


def test_kinds_are_read_from_the_content_not_the_suffix(tmp_path: Path, built_project: Path, profile: Path) -> None:
    jpeg = tmp_path / "image.csv"
    Image.open(PNG).convert("RGB").save(jpeg, format="JPEG")
    empty = tmp_path / "empty.png"
    empty.touch()
    geojson = tmp_path / "x.txt"
    geojson.write_text('  {"type": "FeatureCollection", "features": []}\n')
    assert [content_kind(p) for p in (built_project, SVS, PNG, jpeg, profile, geojson, empty)] == [
        "sqlite", "tiff", "png", "jpeg", "text", "json", "empty"]


# ---- 5. read-only projects ----------------------------------------------------------------------
def _readonly_run(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI while ``folder`` cannot be written: by permissions, or for root (whom permissions do
    not stop) through a read-only bind mount in a private user and mount namespace."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            return run_cli(args)
        finally:
            folder.chmod(mode)
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    probe = (subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(folder), "true"], capture_output=True,
                            check=False) if shutil.which("unshare") else None)
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root, whom file permissions do not stop, and no user namespace with a read-only "
                    "bind mount can be made here")
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(folder), sys.executable, "-m", "bcviewer",
                           *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


@pytest.fixture()
def shared_project(built_project: Path, tmp_path: Path) -> Path:
    share = tmp_path / "share"
    share.mkdir()
    path = share / "labels.bcv"
    shutil.copy(built_project, path)
    path.chmod(0o444)
    return path


def test_labels_stats_reads_a_project_in_a_read_only_folder(shared_project: Path) -> None:
    before = digest(shared_project)
    result = _readonly_run(shared_project.parent, ["labels", "stats", shared_project])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split() == ["100X", "18", "18"]
    assert "read as a snapshot (SQLite immutable=1)" in result.stderr
    assert digest(shared_project) == before
    assert sorted(p.name for p in shared_project.parent.iterdir()) == ["labels.bcv"]  # no -shm, no -wal


def test_labels_export_reads_a_project_in_a_read_only_folder(shared_project: Path) -> None:
    result = _readonly_run(shared_project.parent, ["labels", "export", shared_project, "--csv", "-"])
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0] == "image,patient,image_label,row,col,label,source,locked,round"
    assert len(rows) == 37  # 4 images x 9 sub-images
    assert rows[1].endswith("SOB_B_A-14-22549AB-100-001.png,14-22549AB,benign,0,0,benign,inherited,0,0")


def test_labels_in_a_write_ahead_log_are_not_skipped_silently(built_project: Path, tmp_path: Path) -> None:
    from bcviewer.labels import LabelStore

    share = tmp_path / "share"
    share.mkdir()
    shutil.copy(built_project, share / "labels.bcv")
    with LabelStore.open(share / "labels.bcv") as writer:
        writer.set_meta("note", "committed to the log, not yet to the file")
        # A snapshot taken while the writer still holds its log: the share gets both files.
        (share / "copy.bcv").write_bytes((share / "labels.bcv").read_bytes())
        (share / "copy.bcv-wal").write_bytes((share / "labels.bcv-wal").read_bytes())
    for name in ("labels.bcv", "labels.bcv-wal", "labels.bcv-shm"):
        (share / name).unlink(missing_ok=True)
    assert (share / "copy.bcv-wal").stat().st_size > 0
    result = _readonly_run(share, ["labels", "stats", share / "copy.bcv"])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "write-ahead log (copy.bcv-wal)" in result.stderr.strip().splitlines()[-1]


def test_a_writable_folder_is_read_through_mode_ro_without_immutable(built_project: Path, tmp_path: Path) -> None:
    from bcviewer.labels import LabelStore

    path = tmp_path / "p.bcv"
    shutil.copy(built_project, path)
    before = digest(path)
    with LabelStore.open(path, readonly=True) as store:
        assert not store.immutable  # a writer may exist: read with locks, never as a snapshot
        assert store.counts().total == 36
        assert store._conn.execute("PRAGMA query_only").fetchone()[0] == 1
    assert digest(path) == before


def test_an_older_project_in_a_read_only_folder_says_it_needs_an_upgrade(shared_project: Path) -> None:
    import sqlite3

    from bcviewer.labels.schema import SCHEMA_VERSION

    shared_project.chmod(0o644)
    with sqlite3.connect(shared_project) as conn:  # the version number only: the tables stay those of today
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    before = digest(shared_project)
    result = _readonly_run(shared_project.parent, ["labels", "stats", shared_project])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"written by an older bcviewer (schema {SCHEMA_VERSION - 1})" in lines[0]
    assert "read-only here" in lines[0]
    assert digest(shared_project) == before


def test_viewer_exports_never_replace_a_project_even_after_the_save_dialog(built_project: Path, tmp_path: Path) -> None:
    from bcviewer.regions import write_regions

    target = tmp_path / "regions.geojson"
    shutil.copy(built_project, target)
    before = digest(target)
    with pytest.raises(FileSafetyError, match="already holds an SQLite database"):
        write_regions(target, [])
    assert digest(target) == before
    plain = tmp_path / "old.geojson"
    plain.write_text("old notes\n")  # another kind, but the dialog asked: replaced
    write_regions(plain, [])
    assert json.loads(plain.read_text())["features"] == []


def test_a_database_in_use_is_recognised_without_opening_it(built_project: Path, tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    path.write_text("a,b\n")  # what it holds does not matter: its -wal says SQLite has it open
    path.with_name("live.csv-wal").write_bytes(b"")
    assert content_kind(path) == "sqlite"


@pytest.mark.parametrize("command", ["train", "genes train"])
def test_a_file_as_a_model_out_folder_is_refused_before_training(command: str, profile: Path, tmp_path: Path,
                                                                 test_data: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    shutil.copy(PNG, out)
    before = digest(out)
    args = (["train", test_data / "breakhis", "--out", out] if command == "train"
            else ["genes", "train", profile, "--label", "label", "--model", "deepcme", "--out", out])
    fails_with_one_line(args, capsys, f"--out {out} is a file, not a folder")
    assert digest(out) == before
