"""A registered specialist made in a second, with no training: for tests that need CPU work, not answers.

The model is a real ONNX graph the gateway serves like any specialist (bundled MiniLM tokenizer,
`input_ids`/`attention_mask` in, `logits` out), built with `onnx.helper`: token embeddings (ids
hashed into a small table), then `layers` dense layers per token, masked mean, a linear head. Its cost grows with the tokens it
reads like an encoder's does, so big /v1/classify batches are real CPU work; its labels are
meaningless. Building it takes no torch and well under a second (training the tiny Banking77
specialist takes 30 s and more on 2 busy cores).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

LABELS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"]


def _graph(vocab: int, width: int, layers: int, labels: int, seed: int = 0):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array((rng.standard_normal((vocab, width)) * 0.1).astype(np.float32), "embed"),
             numpy_helper.from_array(np.array(vocab, dtype=np.int64), "vocab")]
    nodes = [helper.make_node("Mod", ["input_ids", "vocab"], ["ids"]),  # hashed into a small table: a small file
             helper.make_node("Gather", ["embed", "ids"], ["h0"])]
    for i in range(layers):
        inits.append(numpy_helper.from_array((rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32), f"w{i}"))
        nodes += [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"m{i}"]), helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"])]
    inits += [
        numpy_helper.from_array((rng.standard_normal((width, labels))).astype(np.float32), "head"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "seq_axis"),
    ]
    nodes += [
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last_axis"], ["mask3"]),
        helper.make_node("Mul", [f"h{layers}", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "seq_axis"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["maskf", "last_axis"], ["count"], keepdims=1),
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "head"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "cpu-specialist",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", labels])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def register_cpu_specialist(home: Path, task: str = "intent", width: int = 768, layers: int = 8, max_length: int = 256) -> str:
    """Register the model as a production version of `task` in the registry at `home`; its ref."""
    import onnx

    from rightmodel.evaluate.card import CARD_JSON
    from rightmodel.registry import Registry
    from rightmodel.specialists.encoder import resolve_base
    from rightmodel.specialists.export import MODEL_FILE, SPEC_FILE, TOKENIZER_FILE

    with Registry(home) as registry:
        with registry.staging(task) as staged:
            onnx.save(_graph(4096, width, layers, len(LABELS)), str(staged / MODEL_FILE))
            shutil.copy(resolve_base(None) / TOKENIZER_FILE, staged / TOKENIZER_FILE)
            spec = {"labels": LABELS, "multi_label": False, "max_length": max_length, "decision_threshold": None,
                    "inputs": ["input_ids", "attention_mask"], "output": "logits"}
            (staged / SPEC_FILE).write_text(json.dumps(spec))
            card = {"task": task, "base_model": "cpu-specialist (tests)", "labels": LABELS,
                    "calibration": {"threshold": 0.5, "target_accuracy": 0.99, "coverage": 1.0}, "metrics": {"accuracy": 0.0}}
            (staged / CARD_JSON).write_text(json.dumps(card))
            version = registry.register(task, staged, {"kind": "specialist", "metrics": {"accuracy": 0.0}})
        registry.promote(version.ref, force=True, reason="tests: a CPU-bound stand-in")
        return version.ref
