"""Where bcviewer finds the files it ships (models, sample image, icons) and the user's own models.

The repository keeps ``models/`` and ``resources/`` at its top level, where the people who train
models and draw icons work. Building a wheel copies both into the package as ``bcviewer/_data``
(see ``setup.py``), so an installed wheel, a PyInstaller bundle or a zip-free site-packages reads
them through :mod:`importlib.resources`. A source checkout or an editable install has no
``bcviewer/_data`` and reads the top-level folders instead. Every lookup of a shipped file or a
model folder goes through this module, so there is one place that knows the layout.

Environment overrides (documented in the README):

- ``BCVIEWER_MODELS``: folders (``os.pathsep``-separated) searched for histology models before
  the shipped ones.
- ``BCVIEWER_GENE_MODELS``: one folder that replaces the gene-model folders.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

APP_NAME = "bcviewer"
MODELS_ENV = "BCVIEWER_MODELS"
GENE_MODELS_ENV = "BCVIEWER_GENE_MODELS"
GENES_SUBDIR = "genes"
SAMPLE_NAME = "SOB_M_MC-14-13413-100-003.png"
PACKAGED_DATA = "_data"  # bcviewer/_data in a wheel: models/ and resources/ of the source tree


def data_root() -> Path:
    """The folder holding ``models/`` and ``resources/``: the package's data, else the source tree."""
    packaged = resources.files("bcviewer") / PACKAGED_DATA
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parents[1]
    if (source_tree / "resources").is_dir() or (source_tree / "models").is_dir():
        return source_tree
    return Path(str(packaged))  # nothing shipped: lookups fail later and name this folder


def shipped_models_dir() -> Path:
    """The models that come with bcviewer (histology model folders, plus ``genes/``)."""
    return data_root() / "models"


def user_models_dir() -> Path:
    """The per-user folder for models the user adds (``~/.local/share/bcviewer/models`` on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "models"


def model_search_dirs() -> list[Path]:
    """Folders searched for a histology model given by name, in order: ``$BCVIEWER_MODELS``
    (a path list), the shipped models, the user's models folder."""
    env = [Path(p).expanduser() for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    return [*env, shipped_models_dir(), user_models_dir()]


def gene_model_dirs() -> list[Path]:
    """Folders of gene-model tasks: ``$BCVIEWER_GENE_MODELS`` alone when set, else the shipped
    ``models/genes`` then the user's ``models/genes``."""
    env = os.environ.get(GENE_MODELS_ENV)
    if env:
        return [Path(env).expanduser()]
    return [shipped_models_dir() / GENES_SUBDIR, user_models_dir() / GENES_SUBDIR]


def resource_path(*parts: str) -> Path:
    """A file under the shipped ``resources/`` folder (it may not exist; callers check)."""
    return data_root().joinpath("resources", *parts)


def icons_dir() -> Path:
    """The toolbar and application icons (SVG)."""
    return resource_path("icons")


def sample_image() -> Path:
    """The bundled BreakHis sample image (mucinous carcinoma, 100X, test patient 14-13413)."""
    return resource_path("sample", SAMPLE_NAME)
