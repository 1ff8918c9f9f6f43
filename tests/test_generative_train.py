"""LoRA fine-tuning of tiny random Llama, Mistral and Phi-3 models: the loss is on answer tokens only,
training is seeded, the merged model converts to GGUF (llama.cpp's converter) and llama.cpp's logits
match transformers'; the 8-bit and 4-bit quantizations load and their logits follow the f32 model's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from generative_models import ARCHS, tiny_model

pytestmark = pytest.mark.slow

PAIRS = [
    {"prompt": f"def add_{i}(a, b): return a + b", "answer": f"Add two numbers ({i})."} for i in range(6)
] + [{"messages": [{"role": "user", "content": "def noop(): pass"}, {"role": "assistant", "content": "Do nothing."}]}]


@pytest.fixture(scope="module")
def tokenizer_dir(smollm2_tokenizer):
    return smollm2_tokenizer


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in PAIRS) + "\n")
    return path


def test_loss_is_on_the_answer_only(tokenizer_dir, tmp_path):
    from rightmodel.generative.lora import IGNORE, encode, load_base

    _, tok = load_base(tiny_model("llama", tokenizer_dir, tmp_path / "hf"))
    conv = [{"role": "user", "content": "def f(): pass"}, {"role": "assistant", "content": "Nothing at all."}]
    ids, labels = encode(tok, conv, 512)
    answer = [t for t, y in zip(ids, labels) if y != IGNORE]
    assert tok.decode(answer).startswith("Nothing at all.")
    assert tok.decode(answer).strip().endswith("<|im_end|>")  # the end of turn is learned: the model learns to stop
    assert all(y == IGNORE for y in labels[: len(ids) - len(answer)])


@pytest.mark.parametrize("arch", ARCHS)
def test_train_merge_export_load_logits_match(arch, tokenizer_dir, pairs_file, tmp_path):
    import torch
    from llama_cpp import Llama

    from rightmodel.generative.gguf_export import quantize, to_gguf
    from rightmodel.generative.lora import LoraSettings, load_base, train_lora
    from rightmodel.generative.pairs import load_pairs

    torch.set_num_threads(1)
    base = tiny_model(arch, tokenizer_dir, tmp_path / "base")
    examples = load_pairs(pairs_file)
    settings = LoraSettings(epochs=2, batch_size=4, learning_rate=5e-3, seed=3)
    first = train_lora(base, examples, tmp_path / "merged", settings)
    again = train_lora(base, examples, tmp_path / "merged-again", settings)
    assert first.losses == again.losses  # seeded
    assert first.losses[-1] < first.losses[0]  # it learns

    merged, tok = load_base(first.merged_dir)
    base_model, _ = load_base(base)
    changed = any(not torch.equal(a, b) for a, b in zip(merged.state_dict().values(), base_model.state_dict().values()))
    assert changed  # the adapter was merged into the weights

    text = tok.apply_chat_template([{"role": "user", "content": "def add_9(a, b): return a + b"}], add_generation_prompt=True, tokenize=False)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        want = merged(torch.tensor([ids])).logits[0].numpy()

    f32 = to_gguf(first.merged_dir, tmp_path / f"{arch}.f32.gguf", "f32")
    # f32 weights and an f32 KV cache (llama.cpp's default cache is f16): the export itself is then all that can differ
    llm = Llama(str(f32), n_ctx=256, n_threads=1, logits_all=True, type_k=0, type_v=0, verbose=False)
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids  # the same tokenization
    llm.eval(ids)
    got = np.asarray(llm.scores[: len(ids)])
    scale = float(np.abs(want).max())
    assert np.abs(got - want).max() <= 5e-4 * scale, (np.abs(got - want).max(), scale)
    assert (got.argmax(-1) == want.argmax(-1)).all()
    llm.close()

    f16 = to_gguf(first.merged_dir, tmp_path / f"{arch}.f16.gguf", "f16")
    for kind in ("q8_0", "q4_0"):
        path = quantize(f16, tmp_path / f"{arch}.{kind}.gguf", kind)
        assert path.stat().st_size < f16.stat().st_size
        q = Llama(str(path), n_ctx=256, n_threads=1, logits_all=True, verbose=False)
        q.eval(ids)
        corr = float(np.corrcoef(np.asarray(q.scores[: len(ids)]).ravel(), want.ravel())[0, 1])
        assert corr >= (0.99 if kind == "q8_0" else 0.8), (kind, corr)  # random weights: argmax is fragile at 4 bits
        q.close()


def test_train_command_writes_gguf_files_and_a_card(tokenizer_dir, pairs_file, tmp_path):
    from conftest import run_cli

    base = tiny_model("mistral", tokenizer_dir, tmp_path / "base")
    out = tmp_path / "out"
    r = run_cli("train", "docstrings", "--kind", "generate", "--data", str(pairs_file), "--base", str(base), "--out", str(out),
                "--epochs", "1", "--seed", "5", home=tmp_path / "home", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["kind"] == "generate" and card["data"]["examples"] == len(PAIRS) and len(card["data"]["data_hash"]) == 64
    assert set(card["files"]) == {"f16", "q8_0", "q4_k_m"}
    for kind, entry in card["files"].items():
        assert (out / entry["file"]).stat().st_size == entry["bytes"] and entry["tokens_per_s_1_thread"] > 0
    assert card["files"]["q8_0"]["bytes"] < card["files"]["f16"]["bytes"]
    assert card["training"]["seconds"] > 0 and card["training"]["steps"] == 2  # 5 of 7 examples train (1 calibrates, 1 tests), batch 4
    assert (card["data"]["train_examples"], card["data"]["calibration_examples"], card["data"]["test_examples"]) == (5, 1, 1)
    acceptance = card["acceptance"]
    assert acceptance["quality_bar"] == "exact" and acceptance["calibration"]["n_calibration"] == 1 and acceptance["test"]["n"] == 1
    # width 64 is no multiple of 256: q8_0 is served (pipeline.served_quant)
    assert acceptance["model_file"] == card["served_file"] == "docstrings.q8_0.gguf" and "random 15%" in acceptance["split"]

    assert "registered docstrings@v1 (candidate)" in r.stderr

    registered_versions_are_promoted_rolled_back_and_served(tmp_path / "home", out, card)

    bad = run_cli("train", "docstrings", "--kind", "generate", "--data", str(tmp_path / "missing.jsonl"), "--base", str(base),
                  "--out", str(out), home=tmp_path / "home")
    assert bad.returncode != 0 and "missing.jsonl" in bad.stderr and "Traceback" not in bad.stderr


def registered_versions_are_promoted_rolled_back_and_served(home, out, card):
    """The version `train` registered lives in the classifiers' registry: `models promote/rollback`
    move it, and a `kind: generate` model naming the task (no path) serves its production version."""
    import openai

    from conftest import run_cli
    from gateway_proc import running_gateway
    from rightmodel.generative.pipeline import register_generative
    from rightmodel.registry import Registry

    with Registry(home) as registry:
        v1 = registry.get("docstrings@v1")
        assert v1.stage == "candidate" and {p.name for p in v1.path.iterdir()} >= {"docstrings.q8_0.gguf", "card.json"}
        manifest = registry.manifest("docstrings@v1")
        assert manifest["kind"] == "generate" and manifest["model_file"] == "docstrings.q8_0.gguf"
        assert manifest["calibration"]["threshold"] == card["acceptance"]["threshold"]
        register_generative(registry, "docstrings", out, card)  # a second version of the same files: v2
    for step in (("promote", "docstrings@v1", "--force", "--reason", "tiny random model"),
                 ("promote", "docstrings@v2", "--force", "--reason", "tiny random model"), ("rollback", "docstrings")):
        r = run_cli("models", *step, home=home)
        assert r.returncode == 0, r.stderr[-2000:]
    with Registry(home) as registry:
        assert registry.get("docstrings@production").version == "v1" and registry.get("docstrings@v2").stage == "archived"

    config = {"models": {"doc": {"kind": "generate", "task": "docstrings", "context_tokens": 512}},
              "tasks": {"docstrings": {"specialist": "doc", "threshold": 0.0}}}
    with running_gateway(config, home) as gw:
        answer = openai.OpenAI(base_url=gw.v1, api_key="sk-test", max_retries=0).chat.completions.create(
            model="docstrings", messages=[{"role": "user", "content": "def add(a, b): return a + b"}], max_tokens=6, temperature=0)
        assert answer.usage.completion_tokens > 0
        row = gw.ledger_rows(expect=1)[-1]
        assert row["route"] == "specialist" and row["model"] == "doc" and row["specialist"] == "docstrings@v1"


def test_served_quantization_follows_the_model_width(tmp_path):
    from rightmodel.generative.pipeline import served_quant

    # Llama-3.2-1B, Llama-2-7B: k-quants fit; SmolLM2-135M and -360M: they do not
    for width, inner, want in ((2048, 8192, "q4_k_m"), (4096, 11008, "q4_k_m"), (576, 1536, "q8_0"), (960, 2560, "q8_0")):
        d = tmp_path / f"m{width}-{inner}"
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"hidden_size": width, "intermediate_size": inner}))
        assert served_quant(d) == want, (width, inner)
