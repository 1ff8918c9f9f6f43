"""LoRA fine-tuning of a causal LM on conversations, the loss on the answer's tokens only; then merge.

The base is a local HF causal-LM directory or a GGUF file (transformers dequantizes it into the
matching *ForCausalLM). Each example is rendered with the tokenizer's chat template: the prompt is
everything up to the assistant's turn (generation prompt included), the target is the answer plus
the template's end of turn, so the model learns to stop. Seeded: the same data, base and settings
give the same adapter. CPU by default; a GPU when torch sees one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rightmodel.errors import DataError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "tokenizer.model")
IGNORE = -100  # label of tokens that carry no loss (torch's cross-entropy ignore_index)


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    epochs: int = 2
    learning_rate: float = 2e-4
    batch_size: int = 4
    max_tokens: int = 512  # longer examples are cut from the left of the prompt (the answer is kept)
    seed: int = 0
    target_modules: str | list[str] = "all-linear"
    threads: int = 1  # torch's CPU threads: explicit, since torch's default (every core) thrashes a shared box


@dataclass
class TrainResult:
    merged_dir: Path
    examples: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)


def load_base(base: Path):
    """(model, tokenizer) from an HF directory or a GGUF file, in float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if base.is_file() and base.suffix == ".gguf":
        tok = AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name)
        model = AutoModelForCausalLM.from_pretrained(str(base.parent), gguf_file=base.name, dtype=torch.float32)
        if hasattr(model.config, "quantization_config"):  # dequantized on load: from here on a plain model
            del model.config.quantization_config
            model.hf_quantizer = None
            model.is_quantized = False
    else:
        tok = AutoTokenizer.from_pretrained(str(base))
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok


def encode(tok, conversation: list[dict[str, str]], max_tokens: int) -> tuple[list[int], list[int]]:
    """(input ids, labels): the labels are IGNORE on the prompt and the ids on the answer."""
    prompt = tok.apply_chat_template(conversation[:-1], add_generation_prompt=True, tokenize=False)
    full = tok.apply_chat_template(conversation, tokenize=False)
    if not full.startswith(prompt):  # a template that renders the history differently once answered
        raise DataError("the chat template does not render the prompt as a prefix of the answered conversation")
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tok(full[len(prompt):], add_special_tokens=False)["input_ids"]
    a_ids = a_ids[:max_tokens - 1]
    p_ids = p_ids[-(max_tokens - len(a_ids)):]
    return p_ids + a_ids, [IGNORE] * len(p_ids) + a_ids


def train_lora(base: Path, examples: list[list[dict[str, str]]], out: Path, settings: LoraSettings = LoraSettings(),
               progress=None) -> TrainResult:
    """Fine-tune, merge the adapter into the base and save the merged model (and tokenizer) in `out`."""
    import random

    import torch
    from peft import LoraConfig, get_peft_model

    started = time.perf_counter()
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tok = load_base(base)
    encoded = [encode(tok, ex, settings.max_tokens) for ex in examples]
    peft_model = get_peft_model(model, LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                                                  target_modules=settings.target_modules, task_type="CAUSAL_LM"))
    peft_model.to(device).train()
    optim = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=settings.learning_rate)
    order = random.Random(settings.seed)
    losses: list[float] = []
    steps = 0
    pad = tok.pad_token_id
    for _epoch in range(settings.epochs):
        idx = list(range(len(encoded)))
        order.shuffle(idx)
        for start in range(0, len(idx), settings.batch_size):
            batch = [encoded[i] for i in idx[start:start + settings.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in batch], device=device)
            labels = torch.tensor([y + [IGNORE] * (width - len(y)) for _, y in batch], device=device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in batch], device=device)
            loss = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optim.step()
            optim.zero_grad()
            losses.append(float(loss.detach()))
            steps += 1
            if progress is not None:
                progress(steps, losses[-1])
    merged = peft_model.merge_and_unload().eval().to("cpu")
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tok.save_pretrained(out)
    if base.is_dir():  # LoRA leaves the tokenizer alone: keep the base's files verbatim (converters read their fields)
        import shutil

        for name in TOKENIZER_FILES:
            if (base / name).is_file():
                shutil.copy(base / name, out / name)
    return TrainResult(out, len(examples), steps, time.perf_counter() - started, losses)
