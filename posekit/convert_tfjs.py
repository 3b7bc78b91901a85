"""Convert a TF.js graph model (``model.json`` + float16 weight shards) into a float32 ONNX graph.

Written for MoveNet SinglePose (Thunder, Lightning) as published in TF.js format: a MobileNetV2 + FPN backbone
and four CenterNet-style heads at 1/4 of the input (keypoint heatmaps, person-centre heatmap, keypoint
regression from the centre, keypoint offsets). The TF.js graph goes on with MoveNet's decoding (ArgMax,
GatherNd, ...), which OpenCV's ONNX importer cannot run; it is done in numpy by :mod:`posekit.movenet`, so the
converted graph stops at the heads. No TensorFlow is needed: the JSON topology and the weight shards are read
with ``json`` and numpy, the graph is written with ``onnx.helper``.

The ONNX graph:

* input ``image``: (N, 3, S, S) float32, **RGB 0-255**, NCHW (N free: several people in one forward); the
  network's own normalisation ``x / 127.5 - 1`` is inside the graph.
* output ``heads``: (N, 86, S/4, S/4) float32 = 17 keypoint heatmaps (sigmoid applied), 1 person-centre heatmap
  (sigmoid applied), 34 regression channels (dy, dx per keypoint, grid cells from the centre), 34 offset
  channels (dy, dx per keypoint, grid cells within the cell). One output, so every engine of
  :mod:`posekit.backends` (OpenCV DNN, ONNX Runtime, OpenVINO) reads it the same way.

Supported TF ops: ``_FusedConv2D`` / ``FusedDepthwiseConv2dNative`` (BiasAdd, Relu, Relu6),
``DepthwiseConv2dNative``, ``Conv2D``, ``AddV2``/``Add``, ``Sub``/``Mul``/``RealDiv`` by constants, ``Relu``,
``Relu6``, ``Sigmoid``, ``ResizeBilinear`` and the batch-dimension no-ops (``Cast``, ``Unpack``/``Pack`` of one
tensor, ``ExpandDims``/``Squeeze`` on axis 0, ``Identity``). Weights may be float32, float16
(``quantization.dtype == "float16"``) or uint8/uint16 affine-quantized (``scale``, ``min``).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .convert import activation_node, write_onnx

#: The four heads of a MoveNet graph, in the order of the output channels, by the name scope TF gave them.
HEADS = (("kpt_heatmap", "heatmap"), ("center", "centre"), ("kpt_regress", "regress"), ("kpt_offset", "offset"))
#: Heads whose logits MoveNet passes through a sigmoid (the regression and offsets are used raw).
_SIGMOID_HEADS = {"heatmap", "centre"}

_PASS_THROUGH = {"Cast", "Identity", "Unpack", "ExpandDims", "Squeeze", "Pack", "StopGradient"}


def _attr(node: dict, key: str, default=None):
    """A node attribute as a plain Python value (strings decoded, lists flattened)."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        lst = a["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode() for s in lst["s"]]
        if "i" in lst:
            return [int(i) for i in lst["i"]]
        if "f" in lst:
            return [float(f) for f in lst["f"]]
        return []
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    return a


def _clean(name: str) -> str:
    """A TF tensor reference without the output index suffix (``foo:0`` -> ``foo``) or control marker."""
    name = name.lstrip("^")
    return name.split(":")[0]


def load_weights(model_json: dict, directory: Path) -> dict[str, np.ndarray]:
    """All constant tensors of a TF.js graph model, decoded to numpy (float weights as float32)."""
    out: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        buf = b"".join((directory / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            dtype = w["dtype"]
            if q:
                qd = q["dtype"]
                if qd == "float16":
                    raw = np.frombuffer(buf, np.float16, n, offset)
                    value = raw.astype(np.float32)
                    offset += 2 * n
                elif qd in ("uint8", "uint16"):
                    raw = np.frombuffer(buf, np.uint8 if qd == "uint8" else np.uint16, n, offset)
                    offset += raw.itemsize * n
                    value = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
                else:
                    raise ValueError(f"unsupported weight quantization {qd!r} for {w['name']}")
                if dtype == "int32":
                    value = np.round(value).astype(np.int32)
            else:
                np_dtype = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}.get(dtype)
                if np_dtype is None:
                    raise ValueError(f"unsupported weight dtype {dtype!r} for {w['name']}")
                value = np.frombuffer(buf, np_dtype, n, offset).copy()
                offset += np.dtype(np_dtype).itemsize * n
            out[w["name"]] = value.reshape(shape)
        if offset != len(buf):
            raise ValueError(f"weight shards {group['paths']} hold {len(buf)} bytes, the manifest {offset}")
    return out


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of one side of ``size``: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _find_heads(nodes: list[dict]) -> list[str]:
    """The output node of each head: the last conv in its name scope that no other node of the scope reads."""
    heads = []
    for scope, title in HEADS:
        in_scope = [n for n in nodes if f"/{scope}_" in "/" + n["name"] and n["op"] != "Const"]
        read = {_clean(i) for n in in_scope for i in n.get("input", [])}
        ends = [n["name"] for n in in_scope if n["name"] not in read]
        if len(ends) != 1:
            raise ValueError(f"cannot find the {title} head (scope {scope!r}) in this graph: {ends}")
        heads.append(ends[0])
    return heads


def _needed(nodes: list[dict], by_name: dict[str, dict], heads: list[str]) -> set[str]:
    """The names of the nodes the heads need."""
    needed: set[str] = set()
    stack = list(heads)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        node = by_name.get(name)
        if node is None:
            raise ValueError(f"graph refers to a missing node {name!r}")
        stack.extend(_clean(i) for i in node.get("input", []) if not i.startswith("^"))
    return needed


class _Builder:
    """The ONNX nodes and initializers of one TF.js graph being converted, one method per kind of TF op; tracks
    the spatial side of every activation (MoveNet's maps are square)."""

    def __init__(self, by_name: dict[str, dict], weights: dict[str, np.ndarray]) -> None:
        self.by_name, self.weights = by_name, weights
        self.nodes: list = []
        self.inits: list = []
        self.alias: dict[str, str] = {}  # TF node -> ONNX value name
        self.hw: dict[str, int] = {}  # spatial side of each activation
        self.init_names: set[str] = set()

    def ref(self, tf_name: str) -> str:
        return self.alias.get(_clean(tf_name), _clean(tf_name))

    def add_init(self, name: str, arr: np.ndarray) -> str:
        if name not in self.init_names:
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
            self.init_names.add(name)
        return name

    def const(self, tf_name: str) -> np.ndarray | None:
        node = self.by_name.get(_clean(tf_name))
        if node is None or node["op"] != "Const":
            return None
        return self.weights[node["name"]]

    def nchw_const(self, name: str, arr: np.ndarray) -> str:
        """A constant operand of an elementwise op on NHWC maps, laid out for NCHW."""
        arr = np.asarray(arr, np.float32)
        if arr.ndim == 4:
            arr = arr.transpose(0, 3, 1, 2)
        elif arr.ndim == 1 and arr.size > 1:
            arr = arr.reshape(-1, 1, 1)
        elif arr.ndim in (2, 3):
            raise ValueError(f"cannot lay out a constant of shape {arr.shape} for NCHW ({name})")
        return self.add_init(name, arr)

    def activation(self, pre: str, out: str, kind: str) -> None:
        if kind not in ("Relu", "Relu6"):
            raise ValueError(f"unsupported fused activation {kind}")
        self.nodes.append(activation_node(kind, pre, out, self.add_init))

    def add(self, node: dict, ins: list[str]) -> None:
        name, op = node["name"], node["op"]
        if op in _PASS_THROUGH:
            # Batch-axis shuffles of the preprocessing (unstack / expand / squeeze one image): identities here.
            if op in ("Unpack", "Pack") and _attr(node, "num", 1) != 1 and len(ins) != 1:
                raise ValueError(f"{op} of several tensors is not supported ({name})")
            self.alias[name] = self.ref(ins[0])
            self.hw[name] = self.hw[_clean(ins[0])]
        elif op in ("_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"):
            self.conv(node, ins)
        elif op in ("AddV2", "Add", "Sub", "Mul", "RealDiv", "SquaredDifference"):
            self.elementwise(node, ins)
        elif op in ("Relu", "Relu6", "Sigmoid"):
            if op == "Sigmoid":
                self.nodes.append(helper.make_node("Sigmoid", [self.ref(ins[0])], [name]))
            else:
                self.activation(self.ref(ins[0]), name, op)
            self.hw[name] = self.hw[_clean(ins[0])]
        elif op == "ResizeBilinear":
            self.resize(node, ins)
        else:
            raise ValueError(f"unsupported TF.js op {op} ({name})")

    def conv(self, node: dict, ins: list[str]) -> None:
        name, op = node["name"], node["op"]
        depthwise = "Depthwise" in op
        x = _clean(ins[0])
        w = self.const(ins[1])
        if w is None:
            raise ValueError(f"{name}: non-constant filter")
        fused = _attr(node, "fused_ops", []) if op.startswith(("_Fused", "Fused")) else []
        bias = self.const(ins[2]) if "BiasAdd" in fused else None
        extra = [f for f in fused if f != "BiasAdd"]
        if _attr(node, "data_format", "NHWC") != "NHWC":
            raise ValueError(f"{name}: only NHWC graphs are supported")
        kh, kw, cin, cout = w.shape
        if depthwise:  # (kh, kw, C, mult) -> (C*mult, 1, kh, kw), one group per input channel
            w_onnx = w.transpose(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw)
            group = cin
        else:  # (kh, kw, I, O) -> (O, I, kh, kw)
            w_onnx = w.transpose(3, 2, 0, 1)
            group = 1
        strides = _attr(node, "strides", [1, 1, 1, 1])[1:3]
        dil = _attr(node, "dilations", [1, 1, 1, 1])[1:3]
        padding = _attr(node, "padding", "VALID")
        side = self.hw[x]
        if padding == "SAME":
            pt, pb = _same_pads(side, kh, strides[0], dil[0])
            pl, pr = _same_pads(side, kw, strides[1], dil[1])
            out_side = -(-side // strides[0])
        elif padding == "VALID":
            pt = pb = pl = pr = 0
            out_side = (side - ((kh - 1) * dil[0] + 1)) // strides[0] + 1
        else:
            raise ValueError(f"{name}: unsupported padding {padding}")
        conv_in = [self.ref(x), self.add_init(name + "/W", w_onnx.astype(np.float32))]
        if bias is not None:
            conv_in.append(self.add_init(name + "/B", bias.astype(np.float32)))
        pre = name + "/pre_act" if extra else name
        self.nodes.append(helper.make_node(
            "Conv", conv_in, [pre], kernel_shape=[kh, kw], strides=strides, dilations=dil,
            pads=[pt, pl, pb, pr], group=group))
        if len(extra) > 1:
            raise ValueError(f"{name}: unsupported fused ops {fused}")
        if extra:
            self.activation(pre, name, extra[0])
        self.hw[name] = out_side

    def elementwise(self, node: dict, ins: list[str]) -> None:
        name, op = node["name"], node["op"]
        if op == "SquaredDifference":
            raise ValueError(f"{name}: SquaredDifference belongs to the decoding, not the network")
        onnx_op = {"AddV2": "Add", "Add": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div"}[op]
        operands = []
        for i in ins:
            c = self.const(i)
            operands.append(self.nchw_const(_clean(i), c) if c is not None else self.ref(i))
        self.nodes.append(helper.make_node(onnx_op, operands, [name]))
        self.hw[name] = next(self.hw[_clean(i)] for i in ins if self.const(i) is None)

    def resize(self, node: dict, ins: list[str]) -> None:
        name = node["name"]
        target = self.const(ins[1])
        if target is None or target[0] != target[1]:
            raise ValueError(f"{name}: needs a constant square target size")
        src = self.hw[_clean(ins[0])]
        if _attr(node, "align_corners", False):
            mode = "align_corners"
        elif _attr(node, "half_pixel_centers", False):
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        roi = self.add_init(name + "/roi", np.zeros(0, np.float32))
        scale = float(target[0]) / src
        scales = self.add_init(name + "/scales", np.array([1, 1, scale, scale], np.float32))
        self.nodes.append(helper.make_node("Resize", [self.ref(ins[0]), roi, scales], [name], mode="linear",
                                           coordinate_transformation_mode=mode))
        self.hw[name] = int(target[0])

    def heads(self, heads: list[str]) -> int:
        """Concatenate the heads (sigmoid where the decoder expects it) into ``heads``; returns their grid side."""
        outs = []
        for (_, title), head in zip(HEADS, heads):
            if title in _SIGMOID_HEADS:
                self.nodes.append(helper.make_node("Sigmoid", [self.ref(head)], [f"{title}_sigmoid"]))
                outs.append(f"{title}_sigmoid")
            else:
                outs.append(self.ref(head))
        sides = {self.hw[h] for h in heads}
        if len(sides) != 1:
            raise ValueError(f"the heads have different resolutions: {sides}")
        self.nodes.append(helper.make_node("Concat", outs, ["heads"], axis=1))
        return sides.pop()


def tfjs_to_onnx_model(model_json: dict, weights: dict[str, np.ndarray], *, opset: int = 13):
    """Build an ``onnx.ModelProto`` of a MoveNet TF.js graph up to its four heads (see the module docstring)."""
    nodes = model_json["modelTopology"]["node"]
    by_name = {n["name"]: n for n in nodes}
    placeholders = [n for n in nodes if n["op"] == "Placeholder"]
    if len(placeholders) != 1:
        raise ValueError(f"expected one input, found {len(placeholders)}")
    dims = [int(d["size"]) for d in _attr(placeholders[0], "shape")["shape"]["dim"]]
    if len(dims) != 4 or dims[3] != 3 or dims[1] != dims[2]:
        raise ValueError(f"expected a square NHWC RGB input, got {dims}")
    size = dims[1]
    heads = _find_heads(nodes)
    needed = _needed(nodes, by_name, heads)  # built in file order: the JSON is topologically sorted
    b = _Builder(by_name, weights)
    b.alias[placeholders[0]["name"]] = "image"
    b.hw[placeholders[0]["name"]] = size
    for node in nodes:
        if node["name"] in needed and node["op"] not in ("Const", "Placeholder"):
            b.add(node, [i for i in node.get("input", []) if not i.startswith("^")])
    grid = b.heads(heads)
    graph = helper.make_graph(
        b.nodes,
        "posekit_movenet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("heads", TensorProto.FLOAT, ["batch", 86, grid, grid])],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="posekit")
    model.ir_version = 8
    model.doc_string = (f"Converted by posekit from TF.js ({model_json.get('generatedBy', '?')}); input "
                        f"{size}x{size} RGB 0-255 NCHW; output heads: 17 heatmaps, centre, 34 regression, "
                        "34 offsets (see posekit.convert_tfjs)")
    onnx.checker.check_model(model)
    return model


def tfjs_to_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Convert the TF.js graph model ``src`` (its ``.json``; the shards beside it) into ``dst``, atomically."""
    src, dst = Path(src), Path(dst)
    try:
        model_json = json.loads(src.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{src.name} is not a TF.js model.json: {exc}") from exc
    if model_json.get("format") != "graph-model" or "modelTopology" not in model_json:
        raise ValueError(f"{src.name} is not a TF.js graph model")
    weights = load_weights(model_json, src.parent)

    return write_onnx(tfjs_to_onnx_model(model_json, weights), dst)
