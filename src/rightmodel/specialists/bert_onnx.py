"""A BERT sentence encoder written straight into an ONNX graph from its safetensors weights.

Why: serving must never need torch, and the embedder (mean pooling + L2 normalisation over a
BERT encoder, how all-MiniLM-L6-v2 was trained) was a torch export. The graph is small and fixed
— embeddings, N × (self-attention, feed-forward, two LayerNorms), pooling — so it is written
here with ``onnx.helper`` from the weight file, with numpy and onnx only. Its outputs match the
torch export to ~1e-6 (tests/test_bert_onnx.py); it is used at wheel-build time (setup.py) and
for any local BERT directory given as a base. Other architectures still go through torch.

The output is deterministic: the same weights give the same bytes (no producer timestamps), so
a manifest of SHA-256 digests describes it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17  # LayerNormalization is a standard op from 17 on
IR_VERSION = 8
WEIGHTS_FILE = "model.safetensors"
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


class UnsupportedBase(ValueError):
    """The directory holds no BERT encoder this builder can write (another architecture, or
    weights only as pytorch_model.bin)."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a .safetensors file as numpy arrays (the format is an 8-byte little-endian
    header length, a JSON header of dtype/shape/offsets, then the raw bytes): no extra package."""
    data = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    base = 8 + size
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise UnsupportedBase(f"{path}: tensor {name} has dtype {info['dtype']}")
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data, dtype=_DTYPES[info["dtype"]], count=(end - start) // np.dtype(_DTYPES[info["dtype"]]).itemsize,
                                  offset=base + start).reshape(info["shape"])
    return out


def bert_config(model_dir: Path) -> dict[str, Any]:
    """The Hugging Face config of a BERT encoder directory this builder supports, else UnsupportedBase."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    if config.get("model_type") != "bert":
        raise UnsupportedBase(f"{model_dir}: model_type {config.get('model_type')!r} (only 'bert' is written without torch)")
    if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise UnsupportedBase(f"{model_dir}: only exact-GELU BERT with absolute positions is supported")
    if not (Path(model_dir) / WEIGHTS_FILE).is_file():
        raise UnsupportedBase(f"{model_dir}: no {WEIGHTS_FILE}")
    return config


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=f"n{self.count}", **attrs))
        return out

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """x @ W^T + b, with W stored transposed so MatMul reads it directly (torch's Linear layout)."""
        w = self.const(f"{name}.weight_t", weight.astype(np.float32).T)
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float, name: str) -> str:
        w = self.const(f"{name}.weight", weight.astype(np.float32))
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("LayerNormalization", [x, w, b], axis=-1, epsilon=float(eps))


def _weights(model_dir: Path) -> dict[str, np.ndarray]:
    tensors = read_safetensors(Path(model_dir) / WEIGHTS_FILE)
    # BertModel saves bare names; a BertFor* checkpoint prefixes them with "bert.".
    return {k[5:] if k.startswith("bert.") else k: v for k, v in tensors.items()}


def build_bert_embedder(model_dir: Path, out_path: Path) -> dict[str, Any]:
    """Write ``out_path``: inputs ``input_ids``/``attention_mask`` (int64, batch × sequence),
    output ``embedding`` (float32, batch × hidden): masked mean of the last layer, L2-normalised.

    Returns what the embedder spec needs (``dimensions``, ``layers``)."""
    import onnx
    from onnx import TensorProto

    config = bert_config(model_dir)
    w = _weights(model_dir)
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    layers, eps = int(config["num_hidden_layers"]), float(config.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads
    g = _Graph()

    # Embeddings: word + absolute position + token type 0 (the encoder is always fed one segment).
    ids, mask = "input_ids", "attention_mask"
    words = g.op("Gather", [g.const("word_embeddings", w["embeddings.word_embeddings.weight"].astype(np.float32)), ids], axis=0)
    seq_len = g.op("Shape", [ids], start=1, end=2)  # 1-D [sequence]
    zero = g.const("zero_1d", np.array([0], np.int64))
    pos = g.op("Slice", [g.const("position_embeddings", w["embeddings.position_embeddings.weight"].astype(np.float32)), zero, seq_len, zero])
    token_type = g.const("token_type_0", w["embeddings.token_type_embeddings.weight"][0].astype(np.float32))
    x = g.op("Add", [g.op("Add", [words, pos]), token_type])
    x = g.layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps, "embeddings.LayerNorm")

    # Additive attention mask, batch × 1 × 1 × sequence: 0 where attended, float32 min where padded.
    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const("one_f", np.array(1.0, np.float32)), mask_f])
    additive = g.op("Mul", [inverted, g.const("mask_min", np.array(np.finfo(np.float32).min, np.float32))])
    additive = g.op("Unsqueeze", [additive, g.const("axes_1_2", np.array([1, 2], np.int64))])
    split_heads = g.const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, hidden], np.int64))
    scale = g.const("attention_scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    sqrt_half = g.const("sqrt_half", np.array(np.sqrt(0.5), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    one = g.const("one_f_gelu", np.array(1.0, np.float32))

    for i in range(layers):
        p = f"encoder.layer.{i}."

        def heads_of(name: str) -> str:
            y = g.linear(x, w[p + f"attention.self.{name}.weight"], w[p + f"attention.self.{name}.bias"], p + f"attention.self.{name}")
            return g.op("Transpose", [g.op("Reshape", [y, split_heads])], perm=[0, 2, 1, 3])

        q, k, v = heads_of("query"), heads_of("key"), heads_of("value")
        scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale])
        probs = g.op("Softmax", [g.op("Add", [scores, additive])], axis=-1)
        context = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge_heads])
        attended = g.linear(context, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"], p + "attention.output.dense")
        x = g.layer_norm(g.op("Add", [attended, x]), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                         eps, p + "attention.output.LayerNorm")
        inner = g.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"], p + "intermediate.dense")
        gelu = g.op("Mul", [g.op("Mul", [inner, half]), g.op("Add", [g.op("Erf", [g.op("Mul", [inner, sqrt_half])]), one])])
        out = g.linear(gelu, w[p + "output.dense.weight"], w[p + "output.dense.bias"], p + "output.dense")
        x = g.layer_norm(g.op("Add", [out, x]), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps, p + "output.LayerNorm")

    # Masked mean over the sequence, then L2 normalisation (torch's F.normalize, eps 1e-12).
    weights = g.op("Unsqueeze", [mask_f, g.const("axis_2", np.array([2], np.int64))])
    axis_1 = g.const("axis_1", np.array([1], np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, weights]), axis_1], keepdims=0)
    counts = g.op("Max", [g.op("ReduceSum", [weights, axis_1], keepdims=0), g.const("count_floor", np.array(1e-6, np.float32))])
    pooled = g.op("Div", [summed, counts])
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [pooled, pooled]), g.const("axis_last", np.array([-1], np.int64))], keepdims=1)])
    norm = g.op("Max", [norm, g.const("norm_floor", np.array(1e-12, np.float32))])
    g.nodes.append(g.helper.make_node("Div", [pooled, norm], ["embedding"], name="embedding"))

    graph = g.helper.make_graph(
        g.nodes, "bert_mean_pooled",
        [g.helper.make_tensor_value_info(ids, TensorProto.INT64, ["batch", "sequence"]),
         g.helper.make_tensor_value_info(mask, TensorProto.INT64, ["batch", "sequence"])],
        [g.helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.inits,
    )
    model = g.helper.make_model(graph, opset_imports=[g.helper.make_opsetid("", OPSET)], producer_name="rightmodel.bert_onnx")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    Path(out_path).write_bytes(model.SerializeToString())
    return {"dimensions": hidden, "layers": layers}
