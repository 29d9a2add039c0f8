"""The README's test command in a fresh virtual environment: its install step, then the packaging
test inside that venv, which must find the venv's packages, not the base interpreter's (a new
user's first hour, issue 22).

The venv sees the system's packages (``--system-site-packages``) only so that PyTorch, a 5.5 GB
CUDA build, is not installed again; ``pip install -e ".[test]"`` then puts into the venv whatever
the project needs that the system lacks, and bcviewer itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_COMMAND = 'python3 -m pip install -e ".[test]" && python3 -m pytest'


def test_the_readme_states_the_command_this_test_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_COMMAND in readme
    suite = re.search(r"suite\(\) \((.*?)\n\)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), re.S)
    assert suite is not None and README_COMMAND in suite.group(1) and "venv" in suite.group(1)


@pytest.mark.skipif(os.environ.get("BCVIEWER_IN_FRESH_VENV") == "1", reason="already inside the fresh venv")
def test_install_and_packaging_test_pass_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python3")
    # A new user's shell: none of this run's settings (the minimum-versions job turns pytest's plugin
    # autoload off and names pytest-qt itself; the README's command relies on autoload).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BCVIEWER_", "PYTHON", "VIRTUAL_ENV", "PYTEST_"))}
    env.update(BCVIEWER_IN_FRESH_VENV="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-e", ".[test]"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=900, check=False)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    found = subprocess.run([python, "-c", "import bcviewer, sys; print(sys.prefix)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()) == venv
    packaging = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_packaging.py"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert packaging.returncode == 0, packaging.stdout[-3000:] + packaging.stderr[-2000:]
