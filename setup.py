"""Build hook: ship the top-level ``models/`` and ``resources/`` as package data.

The repository keeps both folders at its top level (models are retrained and replaced there), but
an installed package must carry them. This hook copies them into ``bcviewer/_data`` of the build,
so every wheel (built from the checkout or from the sdist, which grafts both folders in
MANIFEST.in) holds them as package data that ``bcviewer.paths`` reads with importlib.resources.
Any folder added under ``models/`` is picked up without a change here. Editable installs skip the
copy: they read the top-level folders in place.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_DIRS = ("models", "resources")
# weights.onnx(.json) is the ONNX Runtime cache a source checkout writes next to the weights when a
# model is used (git ignores it); a wheel built from such a checkout must not carry it.
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "weights.onnx", "weights.onnx.json")


class BuildPyWithData(build_py):
    """``build_py`` that also copies models/ and resources/ into bcviewer/_data."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "bcviewer" / "_data"
        shutil.rmtree(target, ignore_errors=True)  # a model removed from models/ must not linger
        for name in DATA_DIRS:
            source = ROOT / name
            if not source.is_dir():
                raise SystemExit(f"setup.py: {source} is missing; a wheel without it cannot run")
            shutil.copytree(source, target / name, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithData})
