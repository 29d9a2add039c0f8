"""Gene models on disk: safetensors weights, an ONNX graph and a JSON card, nothing else.

A model directory holds ``model.safetensors`` (network weights, fitted preprocessing arrays, the
training cohort's per-gene distribution, gene scores), ``card.json`` (everything else, with the
sha256 of the weights) and, for shipped models, ``model.onnx``: the networks exported from those
weights (card section ``onnx.fp32``, :mod:`bcviewer.nets.onnx_files`), which is what runs them
without PyTorch. A task directory (``models/genes/er-status``) holds one such directory per
architecture and ``index.json`` naming the default. Pickle-like files are never loaded, and
weights or ONNX files whose sha256 differs from the card are refused.

Loading imports no torch when the networks run from the ONNX file (``runtime='onnx'``, or
``auto`` where PyTorch is not installed); ``runtime='torch'``, ``auto`` with PyTorch installed, or
a model without an ONNX file rebuild the torch networks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from bcviewer.checksums import sha256_of
from bcviewer.genes.catalog import CARD_NAME, INDEX_NAME, model_roots, task_folders
from bcviewer.genes.classifier import GeneNetClassifier, TrainSettings
from bcviewer.genes.ensemble import ENSEMBLE, GeneEnsemble
from bcviewer.genes.errors import GeneModelError, GeneRuntimeError
from bcviewer.genes.linear import LINEAR, LinearGeneClassifier
from bcviewer.capabilities import torch_installed, torch_missing_message
from bcviewer.genes.onnx_runtime import OnnxNets, onnx_session
from bcviewer.genes.preprocessing import (
    STEP_TYPES,
    GeneStandardiser,
    Log2IfCounts,
    SavedTransformer,
)
from bcviewer.nets.onnx_files import onnx_entry, read_onnx_file
from bcviewer.safety import FileSafetyError, atomic_write_bytes, atomic_write_text, read_regular_text

CARD_FORMAT = "bcviewer-gene-model/1"
WEIGHTS_NAME = "model.safetensors"
ONNX_NAME = "model.onnx"
ONNX_ROLE = "fp32"
RUNTIMES = ("auto", "onnx", "torch")
EXPORT_COMMAND = "bcviewer genes export-onnx"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
GeneClassifier = GeneNetClassifier | GeneEnsemble | LinearGeneClassifier
_UNSAFE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin", ".npy", ".npz", ".h5", ".keras"}


@dataclass
class GeneReference:
    """The training cohort's per-gene distribution, on the scale the model standardises (after log2)."""

    mean: np.ndarray
    sd: np.ndarray
    quantiles: np.ndarray  # len(QUANTILES) x genes

    @classmethod
    def from_training(cls, classifier: GeneClassifier, X: np.ndarray) -> "GeneReference":
        values = model_scale(classifier, X)
        standardiser = next(s for s in _steps(classifier) if isinstance(s, GeneStandardiser))
        with np.errstate(all="ignore"):
            quantiles = np.nanquantile(values, QUANTILES, axis=0)
        return cls(standardiser.mean_.copy(), standardiser.scale_.copy(), np.nan_to_num(quantiles))


def _steps(classifier: GeneClassifier) -> list[SavedTransformer]:
    steps = classifier.steps
    assert steps is not None  # filled in by GeneNetClassifier.__post_init__
    return steps


def model_scale(classifier: GeneClassifier, X: np.ndarray) -> np.ndarray:
    """Raw expression on the model's scale: log2(x + 1) applied when the model's training did."""
    log_step = next((s for s in _steps(classifier) if isinstance(s, Log2IfCounts)), None)
    return log_step.transform(X) if log_step is not None else np.asarray(X, dtype=np.float64)


@dataclass
class GeneModel:
    """A loaded, verified gene model."""

    name: str
    path: Path
    card: dict[str, Any]
    classifier: GeneClassifier
    reference: GeneReference
    gene_score_values: np.ndarray

    @property
    def genes(self) -> list[str]:
        return self.classifier.genes

    @property
    def classes(self) -> list[str]:
        return self.classifier.classes

    @property
    def read_genes(self) -> list[str]:
        """The genes its predictions depend on: a logistic model's non-zero coefficients, else all."""
        if isinstance(self.classifier, LinearGeneClassifier):
            return self.classifier.used_genes()
        return self.genes

    @property
    def class_names(self) -> list[str]:
        """Display names of ``classes`` from the card (``class_names``; e.g. ``1`` -> distant metastasis)."""
        names = self.card.get("class_names") or {}
        return [str(names.get(c, c)) for c in self.classes]

    @property
    def architecture(self) -> str:
        return self.classifier.architecture

    def gene_scores(self) -> pd.Series:
        """Gene scores, highest first (DeepCME: S_j; others: mean |input x gradient| in training)."""
        return pd.Series(self.gene_score_values, index=self.genes, name="score").sort_values(ascending=False)

    def reference_zscores(self) -> pd.DataFrame:
        """The training cohort's per-gene quantiles as z-scores (rows: QUANTILES, columns: genes),
        on the same scale as ``PredictionResult.zscores``."""
        ref = self.reference
        return pd.DataFrame((ref.quantiles - ref.mean) / ref.sd, index=pd.Index(QUANTILES, name="quantile"),
                            columns=self.genes)


def save_gene_model(directory: str | Path, classifier: GeneClassifier, reference: GeneReference,
                    card: dict[str, Any]) -> Path:
    """Write ``model.safetensors`` and ``card.json`` into ``directory`` and return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, np.ndarray] = {}
    if isinstance(classifier, LinearGeneClassifier):
        description = classifier.describe()
        steps = _step_tensors(classifier.steps, tensors, "")
        tensors.update({"linear.coef": classifier.coef, "linear.intercept": np.array([classifier.intercept])})
    elif isinstance(classifier, GeneEnsemble):  # each member under its own prefix, steps in its description
        description = classifier.describe()
        for a, member in enumerate(classifier.members):
            description["members"][a]["preprocessing"] = _classifier_tensors(member, tensors, f"member.{a}.")
        steps = description["members"][0]["preprocessing"]
    else:
        description = classifier.describe()
        steps = _classifier_tensors(classifier, tensors, "")
    tensors.update({"reference.mean": reference.mean, "reference.sd": reference.sd,
                    "reference.quantiles": reference.quantiles, "gene_scores": classifier.gene_scores()})
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    weights = directory / WEIGHTS_NAME
    # safetensors' save_file leaves a 0600 file; written atomically here it follows the umask like card.json
    atomic_write_bytes(weights, save(tensors, metadata={"format": CARD_FORMAT}))
    full = {"format": CARD_FORMAT, **card, "classifier": description, "preprocessing": steps,
            "reference_quantiles": list(QUANTILES), "weights": WEIGHTS_NAME, "weights_sha256": sha256_of(weights)}
    atomic_write_text(directory / CARD_NAME, json.dumps(_jsonable(full), indent=1) + "\n")
    return directory


def _classifier_tensors(classifier: GeneNetClassifier, tensors: dict[str, np.ndarray], prefix: str) -> list[Any]:
    """Add a classifier's net weights and fitted step arrays to ``tensors``; return its step settings."""
    tensors.update({f"{prefix}net.{m}.{k}": v.detach().cpu().numpy()
                    for m, net in enumerate(classifier.nets) for k, v in net.state_dict().items()})
    return _step_tensors(_steps(classifier), tensors, prefix)


def _step_tensors(steps: list[SavedTransformer], tensors: dict[str, np.ndarray], prefix: str) -> list[Any]:
    """Add fitted step arrays to ``tensors`` under ``prefix``; return the steps' JSON settings."""
    settings_list = []
    for i, step in enumerate(steps):
        settings, arrays = step.saved_state()
        settings_list.append(settings)
        tensors.update({f"{prefix}pre.{i}.{k}": v for k, v in arrays.items()})
    return settings_list


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 6)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def resolve_model_dir(name_or_path: str | Path, models_dir: Path | None = None) -> Path:
    """A directory with ``card.json``: from a path, a task name (its default) or ``task/architecture``."""
    candidate = Path(name_or_path)
    if candidate.suffix.lower() in _UNSAFE_SUFFIXES:
        raise GeneModelError(f"{candidate.name}: pickle-style model files are never loaded; "
                             "a gene model is a folder with model.safetensors and card.json")
    if not candidate.exists():
        candidate = next((root / str(name_or_path) for root in model_roots(models_dir)
                          if (root / str(name_or_path)).exists()), candidate)
        if not candidate.exists():
            known = list_models(models_dir)
            raise GeneModelError(f"no gene model {str(name_or_path)!r}; known models: " + (", ".join(known) or "none"))
    if candidate.is_file():
        if candidate.name in (CARD_NAME, WEIGHTS_NAME):
            return candidate.parent
        raise GeneModelError(f"{candidate}: expected a model folder, its card.json or its model.safetensors")
    if (candidate / CARD_NAME).is_file():
        return candidate
    if (candidate / INDEX_NAME).is_file():
        try:
            default = json.loads(read_regular_text(candidate / INDEX_NAME, "model index"))["default"]
            chosen = candidate / str(default)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, FileSafetyError) as exc:
            raise GeneModelError(f"{candidate / INDEX_NAME} is damaged ({exc}); name an architecture instead, "
                                 f"e.g. {candidate.name}/deepcme") from exc
        if not (chosen / CARD_NAME).is_file():
            raise GeneModelError(f"{candidate / INDEX_NAME} names {default!r}, which holds no model card")
        return chosen
    raise GeneModelError(f"{candidate} holds neither card.json nor index.json; it is not a gene model")


def list_models(models_dir: Path | None = None) -> list[str]:
    """Task names (with their architectures) under the models folder."""
    names = []
    for task in task_folders(models_dir):
        names += [task.name] + [f"{task.name}/{a.name}" for a in sorted(task.iterdir()) if (a / CARD_NAME).is_file()]
    return names


def load_gene_model(name_or_path: str | Path, models_dir: Path | None = None, runtime: str = "auto") -> GeneModel:
    """Load and verify a gene model (see the module docstring for what is refused).

    ``runtime``: ``auto`` runs the networks from the weights in torch where PyTorch is installed
    (faster: see :func:`_runtime_of`), else from the card's ONNX file; ``onnx`` or ``torch``
    insist on one of them.
    """
    if runtime not in RUNTIMES:
        raise GeneModelError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    directory = resolve_model_dir(name_or_path, models_dir)
    try:
        card = json.loads(read_regular_text(directory / CARD_NAME, "model card"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, FileSafetyError) as exc:
        raise GeneModelError(f"{directory / CARD_NAME}: unreadable model card ({exc})") from exc
    if not isinstance(card, dict):
        raise GeneModelError(f"{directory / CARD_NAME} is not a gene model card (it holds a JSON "
                             f"{type(card).__name__}, not an object)")
    if card.get("format") != CARD_FORMAT:
        raise GeneModelError(f"{directory}: card format {card.get('format')!r} is not {CARD_FORMAT}")
    weights = directory / str(card.get("weights", ""))
    if weights.suffix != ".safetensors" or not weights.is_file():
        raise GeneModelError(f"{directory}: the card must name a .safetensors weights file that exists, "
                             f"not {card.get('weights')!r}")
    if sha256_of(weights) != card.get("weights_sha256"):
        raise GeneModelError(f"{weights}: sha256 differs from the model card; the weights were changed "
                             "or belong to another model, so they are refused")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise GeneModelError(f"{weights} is not a valid safetensors file ({' '.join(str(exc).split())})") from exc
    _check_tensors(tensors, weights)
    try:
        reference = GeneReference(tensors["reference.mean"], tensors["reference.sd"], tensors["reference.quantiles"])
        scores = tensors["gene_scores"].astype(np.float64)
        classifier = _rebuild(card, tensors, directory, _runtime_of(card, directory, runtime))
    except GeneModelError:
        raise
    except KeyError as exc:
        raise GeneModelError(f"{directory}: the model lacks {exc.args[0]!r} (in its card or its weights); "
                             "it is incomplete or damaged") from exc
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise GeneModelError(f"{directory}: the model card is malformed ({type(exc).__name__}: {exc})") from exc
    name = card.get("name", directory.name)
    return GeneModel(name, directory, card, classifier, reference, scores)


def _check_tensors(tensors: dict[str, np.ndarray], weights: Path) -> None:
    """Network weights and reference statistics must be finite floats: NaN, Inf or integer/boolean
    casts are refused (integer preprocessing arrays, such as selected gene indices, are allowed)."""
    for key, array in tensors.items():
        if not np.issubdtype(array.dtype, np.floating):
            # Fitted preprocessing may hold integer indices (selected genes); batch-norm counts are ints.
            if key.startswith("pre.") or ".pre." in key or key.endswith("num_batches_tracked"):
                continue
            raise GeneModelError(f"{weights}: tensor {key} holds {array.dtype} values, not floating-point weights; "
                                 "the file was converted or damaged")
        if not np.isfinite(array).all():
            raise GeneModelError(f"{weights}: tensor {key} contains NaN or infinite values; the model is damaged")


def _runtime_of(card: dict[str, Any], directory: Path, runtime: str) -> str:
    """``onnx`` or ``torch``: what runs this model's networks (see :func:`load_gene_model`)."""
    name = str(card.get("name") or directory.name)
    if (card.get("classifier") or {}).get("architecture") == LINEAR:
        return "numpy"  # a logistic model: one dot product, neither PyTorch nor an ONNX file
    # auto prefers PyTorch where it is installed: autograd gives the attributions in one backward
    # pass, while the ONNX graph carries them in forward mode, one pass per gene (er-status's
    # ensemble on 160 samples, 2 cores: 0.3 s load + predict in torch, 7.5 s in ONNX Runtime).
    if runtime == "auto" and onnx_entry(card, ONNX_ROLE) is not None and not torch_installed():
        return "onnx"
    if runtime in ("torch", "auto"):
        if torch_installed():
            return "torch"
        if runtime == "torch":
            raise GeneRuntimeError(torch_missing_message("the torch runtime of gene models"))
        raise GeneRuntimeError(f"model {name} ships no ONNX file and this install has no PyTorch to run its "
                               f"weights; use a full install or export it with '{EXPORT_COMMAND} {directory}' "
                               "where PyTorch is installed")
    if onnx_entry(card, ONNX_ROLE) is None:
        raise GeneRuntimeError(f"model {name} ships no ONNX file; export it with '{EXPORT_COMMAND} {directory}'")
    return "onnx"


def _rebuild(card: dict[str, Any], tensors: dict[str, np.ndarray], directory: Path,
             runtime: str = "torch") -> GeneClassifier:
    spec = card["classifier"]
    if spec.get("architecture") == LINEAR:
        steps = _restore_steps(card["preprocessing"], tensors, directory, "")
        coef = np.asarray(tensors["linear.coef"], dtype=np.float64)
        if coef.shape != (len(spec["genes"]),) or len(spec["classes"]) != 2:
            raise GeneModelError(f"{directory}: a logistic model needs one coefficient per gene and two classes")
        return LinearGeneClassifier(str(spec["variant"]), list(spec["genes"]), [str(c) for c in spec["classes"]],
                                    steps, coef, float(np.asarray(tensors["linear.intercept"]).ravel()[0]),
                                    dict(spec.get("recipe", {})), str(spec.get("log2", "auto")))
    session = None
    if runtime == "onnx":
        name = str(card.get("name") or directory.name)
        session = onnx_session(read_onnx_file(directory, card, ONNX_ROLE, name), name)
    if spec.get("architecture") == ENSEMBLE:
        members = [_rebuild_one(member, member["preprocessing"], tensors, directory, f"member.{a}.",
                                OnnxNets(session, a) if session is not None else None)
                   for a, member in enumerate(spec["members"])]
        return GeneEnsemble(members)
    return _rebuild_one(spec, card["preprocessing"], tensors, directory, "",
                        OnnxNets(session, 0) if session is not None else None)


def _restore_steps(preprocessing: list[dict[str, Any]], tensors: dict[str, np.ndarray], directory: Path,
                   root: str) -> list[SavedTransformer]:
    steps = []
    for i, settings in enumerate(preprocessing):
        prefix = f"{root}pre.{i}."
        arrays = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        kind = settings.get("type") if isinstance(settings, dict) else None
        if kind not in STEP_TYPES:
            raise GeneModelError(f"{directory}: the card names an unknown preprocessing step {kind!r} "
                                 f"(known: {', '.join(sorted(STEP_TYPES))})")
        steps.append(STEP_TYPES[kind].restore(settings, arrays))
    return steps


def _rebuild_one(spec: dict[str, Any], preprocessing: list[dict[str, Any]], tensors: dict[str, np.ndarray],
                 directory: Path, root: str, runner: OnnxNets | None = None) -> GeneNetClassifier:
    classes = spec["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or len(set(map(str, classes))) != len(classes):
        raise GeneModelError(f"{directory}: the model card names the classes {classes!r}; a classifier needs at "
                             "least 2 different classes")
    steps = _restore_steps(preprocessing, tensors, directory, root)
    classifier = GeneNetClassifier(spec["architecture"], list(spec["genes"]), list(spec["classes"]),
                                   TrainSettings(**spec["settings"]), dict(spec["net_options"]), steps,
                                   spec.get("log2", "auto"), history=dict(spec.get("history", {})),
                                   runner=runner, net_count=int(spec["members"]))
    if runner is not None:
        return classifier
    import torch

    for member in range(int(spec["members"])):
        net = classifier.new_net()
        prefix = f"{root}net.{member}."
        state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise GeneModelError(f"{directory}: weights do not fit a {classifier.architecture} network "
                                 f"({str(exc).splitlines()[0]})") from exc
        net.eval()
        classifier.nets.append(net)
    return classifier
