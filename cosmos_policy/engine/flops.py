"""FLOPs of an ONNX graph, counted from its MatMul, Gemm, Conv and ConvTranspose shapes.

A multiply-add is 2 FLOPs. ONNX shape inference loses static dims through the exporter's
computed Reshape/Expand shapes, so the shapes are read from one real run instead: every
operand of a counted op becomes a graph output and the graph runs once in ONNX Runtime
(CPU, no optimisation) on zeros. Element-wise ops, softmax and normalisations are not
counted (memory-bound and small next to the products), so the figure is a lower bound.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx

_COUNTED = ("MatMul", "Gemm", "Conv", "ConvTranspose")
_NP = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.UINT8: np.uint8,
       onnx.TensorProto.INT64: np.int64, onnx.TensorProto.INT32: np.int32}


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    import onnxruntime as ort

    shapes = {i.name: list(i.dims) for i in model.graph.initializer}
    wanted = sorted({n for node in model.graph.node if node.op_type in _COUNTED
                     for n in (*node.input[:2], node.output[0]) if n and n not in shapes})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in wanted if n not in have)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(probe.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    feeds = {}
    for i in model.graph.input:
        t = i.type.tensor_type
        feeds[i.name] = np.zeros([d.dim_value for d in t.shape.dim], _NP[t.elem_type])
    names = [o.name for o in sess.get_outputs()]
    for name, value in zip(names, sess.run(names, feeds), strict=True):
        shapes[name] = list(np.shape(value))
    return shapes


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return a.i
    return default


def count_flops(path: str | Path) -> dict[str, int]:
    """FLOPs per op type (and ``total``) of one run of the ONNX graph at ``path``."""
    model = onnx.load(str(path))
    shapes = _shapes(model)
    counts: dict[str, int] = {}
    for node in model.graph.node:
        op = node.op_type
        if op not in _COUNTED:
            continue
        out = shapes[node.output[0]]
        if op == "MatMul":
            flops = 2 * math.prod(out) * shapes[node.input[0]][-1]
        elif op == "Gemm":
            a = shapes[node.input[0]]
            flops = 2 * math.prod(out) * (a[0] if _attr(node, "transA", 0) else a[1])
        elif op == "Conv":  # weight (Cout, Cin / group, kh, kw)
            flops = 2 * math.prod(out) * math.prod(shapes[node.input[1]][1:])
        else:  # ConvTranspose: weight (Cin, Cout / group, kh, kw), one MAC per input pixel
            flops = 2 * math.prod(shapes[node.input[0]]) * math.prod(shapes[node.input[1]][1:])
        counts[op] = counts.get(op, 0) + flops
    counts["total"] = sum(counts.values())
    return counts
