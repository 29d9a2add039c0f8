"""One way to open an ONNX Runtime CPU session, shared by every ONNX file bcviewer runs (the
ensembles, the self-learning trunk, the gene models).

Sequential execution with one inter-op thread, every graph optimisation, and idle intra-op threads
that do not spin: by default they busy-wait between runs, taking the cores the tile readers, the
image decoders and the GUI need (measured in issue 13, benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def cpu_session(model_bytes: bytes, threads: int, error: Callable[[str], Exception], what: str) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for ``model_bytes`` with ``threads`` intra-op
    threads (0: ONNX Runtime's default, one per physical core). A file ONNX Runtime cannot load
    raises ``error("ONNX Runtime could not load <what> (<reason>)")``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        raise error(f"ONNX Runtime could not load {what} ({' '.join(str(exc).split())})") from exc
