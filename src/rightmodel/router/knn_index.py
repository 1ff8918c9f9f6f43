"""Nearest-neighbour gain for the kNN router: int8 similarities and top-k inside ONNX Runtime.

One routing decision compares the prompt with every training prompt. As float32 in numpy that
streams the whole embedding table (n × 384 × 4 bytes: 21 MB for 14k prompts) from memory after
the encoder has evicted it, ~1.2 ms of a 5 ms budget. Stored as int8 with one scale per training
row it is a quarter of the bytes, and ONNX Runtime's u8×s8 kernels, TopK and Gather do the rest in
one call (~0.6 ms right after the encoder, ~0.2 ms with warm caches). The query is quantized per row (symmetric, int8 shifted to uint8 with zero
point 128), so a prompt scores the same alone or in a batch; its scale is left out because it does
not change which neighbours are nearest. Cosine order is kept up to int8 rounding (on MMLU
prompts the mean gain of the 200 nearest moved by 0.009 on average against float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_CHUNK = 512  # queries per call: bounds the (chunk × n) similarity matrix


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and their float32 scales (max |value| → 127); zero rows get scale 1."""
    x = np.asarray(x, dtype=np.float32)
    scale = np.abs(x).max(axis=1) / 127.0 if len(x) else np.zeros(0, np.float32)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8), scale


def _query_u8(x: np.ndarray) -> np.ndarray:
    q, _ = quantize_rows(x)
    return (q.astype(np.int16) + 128).astype(np.uint8)


class KnnIndex:
    """Mean gain of each query's k nearest training rows (cosine on int8 copies)."""

    def __init__(self, rows8: np.ndarray, scale: np.ndarray, gain: np.ndarray, k: int) -> None:
        self.n, self.dim = rows8.shape
        self.k = max(1, min(int(k), self.n))
        self.session = self._session(rows8, scale, np.asarray(gain, dtype=np.float32))

    def _session(self, rows8: np.ndarray, scale: np.ndarray, gain: np.ndarray) -> Any:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        nodes = [
            helper.make_node("MatMulInteger", ["query", "rows_t", "query_zero"], ["dots"]),
            helper.make_node("Cast", ["dots"], ["dots_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["dots_f", "scale"], ["sims"]),
            helper.make_node("TopK", ["sims", "k"], ["_", "nearest"], axis=-1, largest=1, sorted=0),
            helper.make_node("Gather", ["gain", "nearest"], ["gains"], axis=0),
            helper.make_node("ReduceMean", ["gains"], ["score"], axes=[-1], keepdims=0),
        ]
        weights = [
            numpy_helper.from_array(np.array(128, np.uint8), "query_zero"),
            numpy_helper.from_array(np.ascontiguousarray(rows8.T), "rows_t"),
            numpy_helper.from_array(np.asarray(scale, np.float32), "scale"),
            numpy_helper.from_array(np.array([self.k], np.int64), "k"),
            numpy_helper.from_array(gain, "gain"),
        ]
        graph = helper.make_graph(nodes, "knn_gain", [helper.make_tensor_value_info("query", TensorProto.UINT8, ["batch", self.dim])],
                                  [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])], weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one query per decision: the calling thread is enough
        options.inter_op_num_threads = 1
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def score(self, queries: np.ndarray) -> np.ndarray:
        out = np.empty(len(queries), dtype=np.float64)
        for start in range(0, len(queries), _CHUNK):
            chunk = _query_u8(queries[start : start + _CHUNK])
            out[start : start + _CHUNK] = self.session.run(["score"], {"query": chunk})[0]
        return out
