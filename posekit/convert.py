"""Convert the weight-quantized MobileNetV2-OpenPose TFLite files into a float ONNX graph for OpenCV DNN.

OpenCV's TFLite importer fails on these files: their int8 weights sit behind DEQUANTIZE ops or are consumed
directly by "hybrid" convolutions. The graph itself is plain (CONV_2D, DEPTHWISE_CONV_2D, ADD, CONCATENATION,
RESIZE_BILINEAR), so we read the flatbuffer with the ``tflite`` package, dequantize every int8 constant to
float32 once, and write the same graph with ``onnx.helper``:

* NHWC becomes NCHW (OpenCV's and ONNX Runtime's native layout): the input is ``image`` (1, 3, H, W) raw BGR
  0-255 and the output ``output`` (1, 57, H/8, W/8), so ``cv2.dnn.blobFromImage`` feeds it without a transpose.
* Any input size that is a multiple of the network's total stride (16) can be chosen: TF "SAME" padding is
  written as explicit pads that are exact for such sizes, and the bilinear upsample uses scales.
* Fused activations (RELU, RELU6) become Relu / Clip.

The result reproduces the TFLite interpreter's outputs in ``../shared/reference`` (see tests/test_convert.py);
the small differences come from TFLite's hybrid kernels quantizing activations on the fly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .files import atomic_open

#: Total stride of the MobileNetV2-OpenPose backbone: input sides must be multiples of it.
INPUT_MULTIPLE = 16


def _load_tflite():
    try:
        import tflite  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - dependency is in requirements.txt
        raise ImportError("converting TFLite models needs the 'tflite' package (pip install tflite)") from exc
    return tflite


class _Graph:
    """Reads one TFLite subgraph: constant tensors as float32 numpy arrays, ops as (name, options, ins, outs)."""

    def __init__(self, data: bytes):
        tfl = self.tfl = _load_tflite()
        self.model = tfl.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ValueError("expected a single-subgraph TFLite model")
        self.g = self.model.Subgraphs(0)
        self.op_names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
        self.type_names = {v: k for k, v in vars(tfl.TensorType).items() if not k.startswith("_")}
        self.consts: dict[int, np.ndarray] = {}

    def name(self, t: int) -> str:
        return self.g.Tensors(t).Name().decode()

    def shape(self, t: int) -> list[int]:
        return self.g.Tensors(t).ShapeAsNumpy().tolist()

    def const(self, t: int) -> np.ndarray | None:
        """The tensor's constant value as float32 (int8 weights dequantized), or None for activations."""
        if t in self.consts:
            return self.consts[t]
        tensor = self.g.Tensors(t)
        buf = self.model.Buffers(tensor.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        raw = buf.DataAsNumpy().tobytes()
        kind = self.type_names[tensor.Type()]
        shape = tensor.ShapeAsNumpy().tolist()
        if kind == "FLOAT32":
            value = np.frombuffer(raw, np.float32).reshape(shape).copy()
        elif kind == "INT32":
            value = np.frombuffer(raw, np.int32).reshape(shape).copy()
        elif kind in ("INT8", "UINT8"):
            q = np.frombuffer(raw, np.int8 if kind == "INT8" else np.uint8).reshape(shape).astype(np.float32)
            quant = tensor.Quantization()
            scale = quant.ScaleAsNumpy().astype(np.float32)
            zero = quant.ZeroPointAsNumpy().astype(np.float32)
            if scale.size > 1:  # per-channel: broadcast along the quantized dimension
                bshape = [1] * len(shape)
                bshape[quant.QuantizedDimension()] = -1
                scale, zero = scale.reshape(bshape), zero.reshape(bshape)
            value = (q - zero) * scale
        else:
            raise ValueError(f"unsupported constant tensor type {kind} ({self.name(t)})")
        self.consts[t] = value
        return value

    def ops(self):
        for i in range(self.g.OperatorsLength()):
            op = self.g.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            name = self.op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            ins = [op.Inputs(j) for j in range(op.InputsLength())]
            outs = [op.Outputs(j) for j in range(op.OutputsLength())]
            yield name, op, ins, outs

    def options(self, op, cls):
        table = op.BuiltinOptions()
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts


def _same_pads(kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) for an input side divisible by the stride."""
    total = max((kernel - 1) * dilation + 1 - stride, 0)
    return total // 2, total - total // 2


_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1, -2: 3, -3: 2, -4: 0}


def activation_node(kind: str, pre: str, out: str, add_init: Callable[[str, np.ndarray], str]):
    """The ONNX node that applies an activation to value ``pre`` as value ``out``: ``kind`` "none" (Identity),
    "relu" or "relu6" (Clip to 0..6, its bounds added as initializers with ``add_init(name, array)``), in any
    case (TFLite's ``RELU6``, TF's ``Relu6``). Shared by the TFLite and the TF.js converters."""
    k = kind.lower()
    if k == "none":
        return helper.make_node("Identity", [pre], [out])
    if k == "relu":
        return helper.make_node("Relu", [pre], [out])
    if k == "relu6":
        lo = add_init(out + "/clip_min", np.array(0.0, np.float32))
        hi = add_init(out + "/clip_max", np.array(6.0, np.float32))
        return helper.make_node("Clip", [pre, lo, hi], [out])
    raise ValueError(f"unsupported fused activation {kind}")


class _Builder:
    """The ONNX nodes and initializers of one TFLite graph being converted, one method per TFLite op."""

    def __init__(self, gr: _Graph) -> None:
        self.gr, self.tfl = gr, gr.tfl
        self.act_names = {v: k for k, v in vars(self.tfl.ActivationFunctionType).items() if not k.startswith("_")}
        self.nodes: list = []
        self.inits: list = []
        self.renamed: dict[int, str] = {}  # tensor index -> value name in the ONNX graph

    def value(self, t: int) -> str:
        return self.renamed.get(t, self.gr.name(t))

    def add_init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def fused(self, op_type: str, inputs: list[str], out_t: int, fused: int, **attrs) -> None:
        """``op_type`` writing ``out_t``, followed by its fused activation when it has one."""
        final = self.value(out_t)
        pre = final if self.act_names[fused] == "NONE" else final + "/pre_act"
        self.nodes.append(helper.make_node(op_type, inputs, [pre], **attrs))
        if pre != final:
            self.nodes.append(activation_node(self.act_names[fused], pre, final, self.add_init))

    def dequantize(self, op, ins, outs) -> None:
        src = self.gr.const(ins[0])
        if src is None:
            raise ValueError("DEQUANTIZE of a non-constant tensor is not supported")
        self.gr.consts[outs[0]] = src

    def conv(self, op, ins, outs, depthwise: bool) -> None:
        gr, tfl = self.gr, self.tfl
        o = gr.options(op, tfl.DepthwiseConv2DOptions if depthwise else tfl.Conv2DOptions)
        w = gr.const(ins[1])
        bias = gr.const(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
        kh, kw = w.shape[1], w.shape[2]
        if depthwise:  # TFLite (1, kh, kw, C*mult) -> ONNX (C*mult, 1, kh, kw), one group per input channel
            w = w.transpose(3, 0, 1, 2)
            group = gr.shape(ins[0])[-1]
        else:  # TFLite (O, kh, kw, I) -> ONNX (O, I, kh, kw)
            w = w.transpose(0, 3, 1, 2)
            group = 1
        dh, dw = o.DilationHFactor() or 1, o.DilationWFactor() or 1
        sh, sw = o.StrideH(), o.StrideW()
        if o.Padding() == tfl.Padding.SAME:
            (pt, pb), (pl, pr) = _same_pads(kh, sh, dh), _same_pads(kw, sw, dw)
        else:
            pt = pb = pl = pr = 0
        base = self.value(outs[0])
        conv_in = [self.value(ins[0]), self.add_init(base + "/W", w.astype(np.float32))]
        if bias is not None:
            conv_in.append(self.add_init(base + "/B", bias.astype(np.float32)))
        self.fused("Conv", conv_in, outs[0], o.FusedActivationFunction(), kernel_shape=[kh, kw],
                   strides=[sh, sw], dilations=[dh, dw], pads=[pt, pl, pb, pr], group=group)

    def add(self, op, ins, outs) -> None:
        o = self.gr.options(op, self.tfl.AddOptions)
        for t in ins:
            c = self.gr.const(t)
            if c is not None and c.ndim == 4:
                self.add_init(self.value(t), c.transpose(0, 3, 1, 2))
            elif c is not None:
                self.add_init(self.value(t), c.reshape(-1, 1, 1) if c.ndim == 1 else c)
        self.fused("Add", [self.value(t) for t in ins], outs[0], o.FusedActivationFunction())

    def concat(self, op, ins, outs) -> None:
        o = self.gr.options(op, self.tfl.ConcatenationOptions)
        self.fused("Concat", [self.value(t) for t in ins], outs[0], o.FusedActivationFunction(),
                   axis=_NHWC_TO_NCHW_AXIS[o.Axis()])

    def resize(self, op, ins, outs) -> None:
        o = self.gr.options(op, self.tfl.ResizeBilinearOptions)
        _, ih, iw, _ = self.gr.shape(ins[0])
        _, oh, ow, _ = self.gr.shape(outs[0])
        if o.AlignCorners():
            mode = "align_corners"
        elif o.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        base = self.value(outs[0])
        roi = self.add_init(base + "/roi", np.zeros(0, np.float32))
        scales = self.add_init(base + "/scales", np.array([1, 1, oh / ih, ow / iw], np.float32))
        self.nodes.append(helper.make_node("Resize", [self.value(ins[0]), roi, scales], [base], mode="linear",
                                           coordinate_transformation_mode=mode))

    def op(self, kind: str, op, ins, outs) -> None:
        handlers = {
            "DEQUANTIZE": self.dequantize,
            "CONV_2D": lambda *a: self.conv(*a, depthwise=False),
            "DEPTHWISE_CONV_2D": lambda *a: self.conv(*a, depthwise=True),
            "ADD": self.add,
            "CONCATENATION": self.concat,
            "RESIZE_BILINEAR": self.resize,
        }
        if kind not in handlers:
            raise ValueError(f"unsupported TFLite op {kind}")
        handlers[kind](op, ins, outs)


def _io_dims(input_size: tuple[int, int]) -> tuple[list, list]:
    """The ONNX input and output H, W dimensions for ``input_size`` ((0, 0): dynamic)."""
    if input_size == (0, 0):
        return ["height", "width"], ["out_height", "out_width"]
    w_req, h_req = input_size
    if w_req <= 0 or h_req <= 0 or w_req % INPUT_MULTIPLE or h_req % INPUT_MULTIPLE:
        raise ValueError(f"input size must be positive multiples of {INPUT_MULTIPLE}, got {input_size}")
    return [h_req, w_req], [h_req // 8, w_req // 8]


def tflite_to_onnx_model(data: bytes, *, input_size: tuple[int, int] | None = None, opset: int = 13):
    """Build an ``onnx.ModelProto`` from the bytes of a TFLite OpenPose model (see the module docstring).

    ``input_size`` (width, height) fixes the graph's input size; both must be multiples of 16. The default is
    the TFLite file's own size. ``(0, 0)`` leaves H and W dynamic (ONNX Runtime handles that; OpenCV's
    importer needs fixed sizes).
    """
    gr = _Graph(data)
    b = _Builder(gr)
    in_t = gr.g.Inputs(0)
    out_t = gr.g.Outputs(0)
    b.renamed[in_t], b.renamed[out_t] = "image", "output"
    _, in_h, in_w, in_c = gr.shape(in_t)
    out_c = gr.shape(out_t)[-1]
    in_dims, out_dims = _io_dims((in_w, in_h) if input_size is None else input_size)
    for kind, op, ins, outs in gr.ops():
        b.op(kind, op, ins, outs)
    graph = helper.make_graph(
        b.nodes,
        "posekit_openpose",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, in_c, *in_dims])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, out_c, *out_dims])],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="posekit")
    model.ir_version = 8
    model.doc_string = f"Converted by posekit from TFLite; native input {in_w}x{in_h}, raw BGR 0-255, NCHW."
    onnx.checker.check_model(model)
    return model


def tflite_to_onnx(src: str | os.PathLike, dst: str | os.PathLike, *,
                   input_size: tuple[int, int] | None = None) -> Path:
    """Convert the TFLite file ``src`` into the ONNX file ``dst``, written atomically. Returns ``dst``."""
    src, dst = Path(src), Path(dst)
    return write_onnx(tflite_to_onnx_model(src.read_bytes(), input_size=input_size), dst)


def write_onnx(model, dst: str | os.PathLike) -> Path:
    """Write an ONNX model to ``dst`` atomically (a ``.part`` file beside it, then a rename). Returns ``dst``."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(dst, "wb") as f:
        f.write(model.SerializeToString())
    return dst
