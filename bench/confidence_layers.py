"""Experiment (issue 22): do the encoder's earlier layers tell unknown intents apart better than
the last one?

Feature-ensemble detectors (Lee et al. 2018; Podolskiy et al. 2021 for transformers) score a
request by its Mahalanobis distance or nearest-neighbour similarity at several layers, on the
premise that earlier layers keep what fine-tuning has collapsed. This re-runs the cached
`unknown` specialist of bench/confidence_cache.py (60 of 77 Banking77 intents; state_dict.pt)
in PyTorch with every hidden state, mean-pools each layer like the head does, and scores the
official test split (known vs the 17 held-out intents) per layer with:
  maha   minus the smallest Mahalanobis distance to a class mean (fit rows, Ledoit-Wolf shared covariance)
  knn1   cosine similarity to the nearest fit row (any intent)
  knn10  cosine similarity to the 10th nearest fit row
and, for reference, the max probability the specialist serves. Reported: AUROC known vs unknown
and the share of known requests answered when the threshold is picked on test so that 90% of
unknown requests escalate (a hindsight ceiling, like bench/confidence.py's).

Usage: python bench/confidence_layers.py [--threads 2]   (~3 minutes; needs the cache)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results"


def layer_embeddings(variant: str) -> tuple[dict, list[str]]:
    """Mean-pooled hidden states of every layer (embeddings output + 6 blocks) and the logits,
    for fit, calibration and test rows of the cached variant."""
    import torch
    from transformers import AutoTokenizer

    from confidence_cache import CACHE, splits
    from rightmodel.specialists.train import build_classifier, pad_batch, resolve_base

    fit, calibration, test, known = splits(variant)
    meta = json.loads((CACHE / variant / "meta.json").read_text())
    base = resolve_base(None)
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = build_classifier(base, len(known), dropout=meta["config"]["dropout"])
    model.load_state_dict(torch.load(CACHE / variant / "state_dict.pt"))
    model.eval()
    out: dict = {}
    for name, part in (("fit", fit), ("test", test)):
        rows = tokenizer(list(part.texts), truncation=True, max_length=meta["config"]["max_length"])["input_ids"]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        layers, logits = None, np.zeros((len(rows), len(known)), np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), 64):
                idx = order[start : start + 64]
                ids, mask = pad_batch([rows[i] for i in idx], tokenizer.pad_token_id or 0)
                hidden = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
                if layers is None:
                    layers = np.zeros((len(hidden), len(rows), hidden[0].shape[-1]), np.float32)
                m = mask.unsqueeze(-1).float()
                for layer, h in enumerate(hidden):
                    layers[layer, idx] = ((h * m).sum(1) / m.sum(1)).numpy()
                logits[idx] = model.head(torch.from_numpy(layers[-1, idx])).numpy()
        out[name] = {"layers": layers, "logits": logits, "labels": np.array([labs[0] for labs in part.labels])}
    return out, known


def hindsight_known_coverage(score: np.ndarray, is_known: np.ndarray, escalated: float = 0.9) -> float:
    from confidence import hindsight_cut

    return float((score[is_known] > hindsight_cut(score, is_known, escalated)).mean())


def layer_scores(fit: np.ndarray, y_fit: np.ndarray, n_classes: int, rows: np.ndarray) -> dict[str, np.ndarray]:
    from sklearn.covariance import LedoitWolf

    means = np.stack([fit[y_fit == c].mean(0) for c in range(n_classes)])
    precision = LedoitWolf().fit(fit - means[y_fit]).precision_
    d2 = np.stack([np.einsum("ij,jk,ik->i", rows - mu, precision, rows - mu) for mu in means], axis=1)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    sims = np.sort(unit(rows) @ unit(fit).T, axis=1)
    return {"maha": -d2.min(1), "knn1": sims[:, -1], "knn10": sims[:, -10]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "confidence-layers.md")
    args = parser.parse_args()
    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(args.threads)
    started = time.time()
    data, known = layer_embeddings("unknown")
    index = {k: i for i, k in enumerate(known)}
    y_fit = np.array([index[y] for y in data["fit"]["labels"]])
    is_known = np.array([y in index for y in data["test"]["labels"]])
    logits = data["test"]["logits"] - data["test"]["logits"].max(1, keepdims=True)
    msp = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).max(1)
    best: dict[int, tuple[float, str]] = {}
    lines = ["| layer | score | AUROC known vs unknown | known answered at 90% unknown escalated (hindsight) |",
             "|---|---|---|---|",
             f"| 6 (head input) | max probability (served) | {roc_auc_score(is_known, msp):.3f} | "
             f"{hindsight_known_coverage(msp, is_known):.1%} |"]
    for layer in range(data["fit"]["layers"].shape[0]):
        scores = layer_scores(data["fit"]["layers"][layer], y_fit, len(known), data["test"]["layers"][layer])
        for name, s in scores.items():
            auroc = float(roc_auc_score(is_known, s))
            best[layer] = max(best.get(layer, (0.0, "")), (auroc, name))
            lines.append(f"| {layer} | {name} | {auroc:.3f} | {hindsight_known_coverage(s, is_known):.1%} |")
        print(time.strftime("%H:%M:%S"), "layer", layer, flush=True)
    page = ["# Unknown intents by layer (issue 22, experiment)", "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python bench/confidence_layers.py` "
            f"in {time.time() - started:.0f} s, on the cached `unknown` specialist (60 known intents, "
            f"{int(is_known.sum())} known and {int((~is_known).sum())} unknown test rows; fp32 PyTorch). "
            "Layer 0 is the embedding output, 6 the last block, whose mean-pooled output the head reads. "
            "What the scores are: the module docstring.", "",
            "Best AUROC per layer: " + ", ".join(f"{layer}: {a:.3f} ({n})" for layer, (a, n) in sorted(best.items()))
            + f"; the served max probability {roc_auc_score(is_known, msp):.3f}. An earlier layer would help only if "
            "it beat the last one somewhere; a feature ensemble over layers needs weights fitted on unknown requests, "
            "which calibration data does not hold.", ""] + lines
    args.out.write_text("\n".join(page) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
