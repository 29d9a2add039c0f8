"""``bcviewer doctor``: what lab IT pastes into a support ticket.

Prints the versions of bcviewer and of every library it runs on, the device and runtime inference
would use, what this install can and cannot do (PyTorch is optional), the model folders with each model found and its sha256 check, the bundled sample, and
the Qt platform. Qt is probed in a child process (``bcviewer _qtprobe``): the core never imports
Qt, and a Qt that cannot find its platform plugin aborts the process that loads it, which must
not take the report down with it. Exit code 0 when nothing is wrong, 1 when a problem is listed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs

from bcviewer import __version__
from bcviewer.capabilities import capabilities, torch_installed
from bcviewer.checksums import sha256_of
from bcviewer.paths import (
    APP_NAME,
    GENE_MODELS_ENV,
    MODELS_ENV,
    data_root,
    gene_model_dirs,
    model_search_dirs,
    sample_image,
)
from bcviewer.safety import FileSafetyError, read_regular_text

# Distributions whose versions the report lists (installer/common.py copies their metadata into bundles).
DISTRIBUTIONS = (
    "numpy", "scipy", "pillow", "torch", "torchvision", "onnxruntime", "safetensors", "opencv-python-headless",
    "scikit-image", "scikit-learn", "albumentations", "pandas", "tifffile", "openslide-python", "openslide-bin",
    "platformdirs", "tqdm", "torchstain", "efficientnet-lite-pytorch", "PySide6-Essentials", "shiboken6",
    "pyqtgraph", "superqt", "reportlab",
)
QT_PROBE_COMMAND = "_qtprobe"
QT_PROBE_TIMEOUT_S = 60.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="print versions, device, model folders and Qt platform (for support tickets)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-qt", action="store_true", help="skip the Qt platform probe")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = collect(probe_qt=not args.no_qt)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 1 if report["problems"] else 0


def install_kind() -> str:
    """``bundle`` (PyInstaller), ``wheel`` (package data inside site-packages) or ``source`` (a checkout)."""
    if getattr(sys, "frozen", False):
        return "bundle"
    return "wheel" if data_root().name == "_data" else "source"


def versions() -> dict[str, str | None]:
    """Installed version of each distribution in :data:`DISTRIBUTIONS` (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def device_report() -> dict[str, Any]:
    """The device ``--device auto`` picks, the PyTorch build (None where PyTorch is not installed),
    and ONNX Runtime's providers if present."""
    from bcviewer.inference.device import resolve_device, torch_facts
    from bcviewer.inference.runtime import thread_plan

    chosen = resolve_device("auto")
    report: dict[str, Any] = {"chosen": chosen, "torch": None, "torch_build": None, "cuda_available": False,
                              "cuda_devices": [], "mps_available": False, "cpu_threads": thread_plan().intra_op}
    if torch_installed():
        report.update(torch_facts())
    try:
        import onnxruntime
    except ImportError:
        report["onnxruntime_providers"] = None
    else:
        report["onnxruntime_providers"] = list(onnxruntime.get_available_providers())
    report["runtime"] = auto_runtime(chosen, report["onnxruntime_providers"] is not None)
    return report


def auto_runtime(device: Any, onnxruntime_installed: bool) -> dict[str, str]:
    """The engine ``--runtime auto`` runs on ``device`` (a name or a torch device; the rule of
    :mod:`bcviewer.inference.runtime`), and why."""
    from bcviewer.inference.runtime import choose_runtime

    chosen = choose_runtime("auto", device)
    if chosen == "torch":
        kind = str(getattr(device, "type", device)).split(":")[0]
        return {"auto": "torch", "engine": "PyTorch",
                "why": f"the device is {kind.upper()} ({device}), where auto uses PyTorch"}
    why = "the device is the CPU (no CUDA or MPS device), where auto uses ONNX Runtime's CPU provider"
    if not torch_installed():
        why = "PyTorch is not installed (a CPU-only install), so inference runs in ONNX Runtime's CPU provider"
    if not onnxruntime_installed:
        why += "; ONNX Runtime is NOT installed, so predict and the viewer cannot run (pip install onnxruntime)"
    return {"auto": chosen, "engine": "ONNX Runtime", "why": why}


def _check_weights(folder: Path, card: dict[str, Any]) -> str:
    """``ok``, or what is wrong with the weights the card names or with an ONNX file it vouches for
    (every file that can be run is checked against its sha256)."""
    weights = card.get("weights")
    name, expected = ((weights.get("file"), weights.get("sha256")) if isinstance(weights, dict)
                      else (weights, card.get("weights_sha256")))
    if not name or not expected:
        return "card names no weights or no sha256"
    files = [(str(name), expected)]
    section = card.get("onnx")
    onnx: dict[str, Any] = section if isinstance(section, dict) else {}
    files += [(str(e.get("file")), e.get("sha256")) for e in onnx.values() if isinstance(e, dict) and e.get("file")]
    int8 = card.get("int8")
    if isinstance(int8, dict) and int8.get("shipped") and int8.get("file"):
        files.append((str(int8["file"]), int8.get("sha256")))
    for file, digest in files:
        path = folder / file
        if not path.is_file():
            return f"{file} missing"
        if sha256_of(path) != digest:
            return f"sha256 MISMATCH in {file} (files changed or mixed up)"
    return "ok"


def _model_entries(root: Path, kind: str) -> list[dict[str, Any]]:
    """Every model folder (one holding card.json) at most two levels under ``root``."""
    entries = []
    for card_path in sorted([*root.glob("*/card.json"), *root.glob("*/*/card.json")]):
        folder = card_path.parent
        if kind == "histology" and folder.parent != root:
            continue
        try:
            card = json.loads(read_regular_text(card_path, "model card"))
            status = _check_weights(folder, card)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, FileSafetyError) as exc:
            status = f"unreadable card ({exc})"
        entries.append({"kind": kind, "name": folder.relative_to(root).as_posix(), "path": str(folder),
                        "status": status})
    return entries


def models_report() -> dict[str, Any]:
    """Model folders searched (with whether they exist) and the models in them."""
    folders: list[dict[str, Any]] = [{"kind": "histology", "path": str(p), "exists": p.is_dir()}
                                     for p in model_search_dirs()]
    folders += [{"kind": "genes", "path": str(p), "exists": p.is_dir()} for p in gene_model_dirs()]
    models: list[dict[str, Any]] = []
    for folder in folders:
        if folder["exists"]:
            models += _model_entries(Path(folder["path"]), folder["kind"])
    return {"folders": folders, "models": models,
            "env": {MODELS_ENV: os.environ.get(MODELS_ENV), GENE_MODELS_ENV: os.environ.get(GENE_MODELS_ENV)}}


def qt_probe_command() -> list[str]:
    """The command that prints the Qt probe's JSON: the bundle's own executable, or ``python -m bcviewer``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, QT_PROBE_COMMAND]
    return [sys.executable, "-m", "bcviewer", QT_PROBE_COMMAND]


def qt_report() -> dict[str, Any]:
    """Qt's platform plugin and version as a child process sees them, or why Qt failed to start."""
    env_hint = {k: os.environ.get(k) for k in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    try:
        done = subprocess.run(qt_probe_command(), capture_output=True, text=True, timeout=QT_PROBE_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"ok": False, "error": f"Qt probe did not finish: {exc}", "env": env_hint}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and lines:
        return {"ok": True, **json.loads(lines[-1]), "env": env_hint}
    err = [line for line in done.stderr.splitlines() if line.strip()]
    hint = ""
    if sys.platform.startswith("linux") and not any(env_hint.values()):
        hint = " (no display here: QT_QPA_PLATFORM=offscreen runs the headless commands and --screenshot)"
    return {"ok": False, "error": f"Qt failed to start (exit {done.returncode}){hint}: "
                                  + (" | ".join(err[-3:]) if err else "no message"), "env": env_hint}


def collect(probe_qt: bool = True) -> dict[str, Any]:
    """The whole report as a JSON-able dict; ``problems`` lists what needs attention."""
    sample = sample_image()
    report: dict[str, Any] = {
        "bcviewer": {"version": __version__, "install": install_kind(), "data": str(data_root()),
                     "sample": str(sample), "user_data": platformdirs.user_data_dir(APP_NAME)},
        "python": {"version": platform.python_version(), "executable": sys.executable,
                   "platform": platform.platform()},
        "versions": versions(),
        "device": device_report(),
        "capabilities": [{"feature": c.feature, "available": c.available, "needs": c.needs} for c in capabilities()],
        "models": models_report(),
        "qt": qt_report() if probe_qt else None,
    }
    problems = [f"model {m['name']} ({m['path']}): {m['status']}" for m in report["models"]["models"]
                if m["status"] != "ok"]
    if not any(m["kind"] == "histology" for m in report["models"]["models"]):
        problems.append("no histology model found in any model folder")
    if report["device"]["runtime"]["auto"] != "torch" and report["device"]["onnxruntime_providers"] is None:
        problems.append("ONNX Runtime is not installed: the CPU runtime cannot run (pip install onnxruntime)")
    if not sample.is_file():
        problems.append(f"bundled sample image missing: {sample}")
    if report["qt"] is not None and not report["qt"]["ok"]:
        problems.append(f"Qt: {report['qt']['error']}")
    report["problems"] = problems
    return report


def format_report(r: dict[str, Any]) -> str:
    """The report as plain text, one fact a line."""
    b, d, q = r["bcviewer"], r["device"], r["qt"]
    out = [f"bcviewer {b['version']} ({b['install']} install; data in {b['data']})",
           f"python {r['python']['version']} at {r['python']['executable']} on {r['python']['platform']}",
           f"sample image: {b['sample']}", f"user data folder: {b['user_data']}", "", "versions:"]
    out += [f"  {name:<24} {ver or 'not installed'}" for name, ver in r["versions"].items()]
    torch_line = (f"PyTorch {d['torch']}, {d['torch_build']} build; CUDA available: "
                  f"{'yes, ' + ', '.join(d['cuda_devices']) if d['cuda_available'] else 'no'}; "
                  f"MPS available: {'yes' if d['mps_available'] else 'no'}" if d["torch"] else "PyTorch not installed")
    out += ["", f"device: {d['chosen']} ({torch_line}; {d['cpu_threads']} CPU threads)",
            f"runtime (auto): {d['runtime']['engine']}, because {d['runtime']['why']}"
            + (f"; ONNX Runtime providers: {', '.join(d['onnxruntime_providers'])}"
               if d["onnxruntime_providers"] is not None else ""),
            "", "this install can:"]
    out += [f"  {'yes' if c['available'] else 'NO '}  {c['feature']}" + ("" if c["available"] else f" (needs {c['needs']})")
            for c in r["capabilities"]]
    out += ["", "model folders (searched in this order):"]
    out += [f"  {f['kind']:<9} {f['path']}{'' if f['exists'] else '  (does not exist)'}"
            for f in r["models"]["folders"]]
    out += [f"  {k}={v}" for k, v in r["models"]["env"].items() if v]
    out += ["", "models:"] + [f"  {m['kind']:<9} {m['name']:<28} sha256 {m['status']}  ({m['path']})"
                              for m in r["models"]["models"]]
    if q is None:
        out += ["", "Qt: not probed (--no-qt)"]
    elif q["ok"]:
        out += ["", f"Qt: platform {q['platform']}, Qt {q['qt']}, PySide6 {q['pyside6']}, "
                    f"screens: {', '.join(q['screens']) or 'none'}"]
    else:
        out += ["", f"Qt: {q['error']}"]
    out += [f"  {k}={v}" for k, v in (q or {}).get("env", {}).items() if v]
    out += ["", "problems: " + ("none" if not r["problems"] else str(len(r["problems"])))]
    out += [f"  - {p}" for p in r["problems"]]
    return "\n".join(out)
