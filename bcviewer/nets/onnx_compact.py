"""Storing an fp32 ONNX graph's weights in half the bytes, losslessly: float16 storage, fp32 maths.

The shipped models' weights are float16 in their safetensors files, so most float32 initializers of
an export hold values a float16 represents exactly. :func:`compact_fp16` stores exactly those as
float16, each followed by a ``Cast`` back to float32; ONNX Runtime folds the casts when the session
is built, so the graph computes in float32 on the very same numbers. An initializer that float16
would round (a batch-norm fold, a computed constant) stays float32. Export with batch norms kept as
nodes (``TrainingMode.PRESERVE``) so that folding does not make every conv weight inexact; ORT fuses
them itself at load time.
"""

from __future__ import annotations

import numpy as np

SUFFIX = "__fp16"
MIN_VALUES = 16  # small tensors cost more as a Cast node than they save


def compact_fp16(data: bytes) -> bytes:
    """The ONNX model ``data`` with every float32 initializer that float16 holds exactly stored as
    float16 plus a Cast to float32 (values, names, inputs and outputs unchanged)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_model_from_string(data)
    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if values.size < MIN_VALUES or not np.array_equal(half.astype(np.float32), values):
            continue
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(half, init.name + SUFFIX))
        casts.append(helper.make_node("Cast", [init.name + SUFFIX], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + SUFFIX + "_cast"))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)  # topological order: the casts feed the nodes that read them
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
