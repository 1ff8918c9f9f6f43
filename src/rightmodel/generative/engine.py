"""One loaded GGUF model in llama.cpp (llama-cpp-python): prompt formatting, sampling, grammars.

A `llama_cpp.Llama` holds one KV cache and is not safe to share between threads, so an engine
serves one generation at a time; the backend keeps a pool of them (their weights are memory-mapped
from the same file, only the caches are per engine). Generation runs in a worker thread and stops
between two tokens when the caller's `cancel` event is set (the client went away).

Why llama.cpp rather than ONNX Runtime GenAI: bench/results/generative_runtime.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rightmodel.generative.request import GenerationRequest, bad_request

# Used when a GGUF carries no chat template (the converter copies the tokenizer's one when it has one).
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class Piece:
    """A piece of the answer: text, and on the last piece the finish reason."""

    text: str
    finish_reason: str | None = None


class Counter:
    """Tokens of the answer so far (the end-of-generation token not counted), read when it ends,
    and the log-probabilities the model gave the tokens it sampled (the end token included: deciding
    to stop is part of the answer), from which the acceptance score is made."""

    def __init__(self) -> None:
        self.completion_tokens = 0
        self.logprobs: list[float] = []
        self.sampled: list[int] = []  # the token each log-probability belongs to

    @property
    def acceptance(self) -> float | None:
        """The answer's acceptance score (generative/acceptance.py); None before any token."""
        from rightmodel.generative.acceptance import acceptance_score

        return acceptance_score(self.logprobs) if self.logprobs else None


def held_back(text: str, stops: list[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop sequence (not sent yet)."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


class LlamaEngine:
    """A GGUF model loaded once; `generate` is called by one thread at a time."""

    def __init__(self, path: Path, *, n_ctx: int = 2048, threads: int | None = None) -> None:
        from llama_cpp import Llama

        self.path = path
        threads = threads or 1
        self.llm = Llama(str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=min(512, n_ctx), verbose=False)
        self.n_ctx = n_ctx
        self._formatter = self._make_formatter()

    def _make_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self.llm._model  # the token texts are only exposed there
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        template = self.llm.metadata.get("tokenizer.chat_template") or CHATML
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The conversation through the model's chat template, as token ids (special tokens parsed)."""
        formatted = self._formatter(messages=messages)
        add_bos = bool(self.llm._model.add_bos_token()) and not formatted.prompt.startswith(self._formatter.bos_token or "\0")
        return self.llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def grammar(self, req: GenerationRequest):
        """The llama.cpp grammar that constrains the output: from the JSON schema, or any JSON."""
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import JSON_GBNF

        if req.json_schema is not None:
            try:
                return LlamaGrammar.from_json_schema(json.dumps(req.json_schema), verbose=False)
            except Exception as exc:  # the converter's refusal of a schema it cannot express
                raise bad_request("response_format.json_schema.schema", f"the schema cannot be turned into a grammar: {exc}") from None
        if req.json_mode:
            return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return None

    def generate(self, req: GenerationRequest, ids: list[int], cancel: threading.Event) -> tuple[Iterator[Piece], Counter]:
        """Pieces of the answer as they are sampled (lazily: nothing runs until iterated), and the
        counter of its tokens. Checks the context and builds the grammar at once (a 400 before any token)."""
        room = self.n_ctx - len(ids)
        if room < 1:
            raise bad_request("messages", f"the prompt is {len(ids)} tokens; this model's context window is {self.n_ctx}",
                              code="context_length_exceeded")
        counter = Counter()
        return self._pieces(req, ids, min(req.max_tokens or room, room), self.grammar(req), cancel, counter), counter

    def _pieces(self, req: GenerationRequest, ids: list[int], max_tokens: int, grammar, cancel: threading.Event,
                counter: Counter) -> Iterator[Piece]:
        """llama.cpp's token loop: stop sequences are cut (and never half-sent), EOS ends, `cancel` stops
        before the next token. OpenAI's sampling semantics: no top-k, min-p or repeat penalty unless asked."""
        import random

        llm = self.llm
        llm.set_seed(req.seed if req.seed is not None else random.getrandbits(31))
        tokens: list[int] = []
        sent, text, finish = 0, "", "length"
        steps = llm.generate(ids, top_k=0, top_p=req.top_p, min_p=0.0, temp=req.temperature, repeat_penalty=1.0,
                             frequency_penalty=req.frequency_penalty, presence_penalty=req.presence_penalty, grammar=grammar, reset=True)
        try:
            for token in steps:
                if cancel.is_set():
                    return
                counter.logprobs.append(self._logprob(token))
                counter.sampled.append(token)
                if self._is_end(token):
                    finish = "stop"
                    break
                tokens.append(token)
                counter.completion_tokens = len(tokens)
                # Whole text each time: a token may end inside a UTF-8 character, completed by the next one.
                text = llm.detokenize(tokens, prev_tokens=ids).decode("utf-8", errors="ignore")
                hits = [i for i in (text.find(s, max(0, sent - len(s))) for s in req.stop) if i >= 0]
                if hits:
                    cut = min(hits)
                    if cut > sent:
                        yield Piece(text[sent:cut])
                    yield Piece("", "stop")
                    return
                if len(tokens) >= max_tokens:
                    break
                safe = len(text) - held_back(text, req.stop)
                if safe > sent:
                    yield Piece(text[sent:safe])
                    sent = safe
        finally:
            steps.close()
        yield Piece(text[sent:], finish)

    def _logprob(self, token: int) -> float:
        """log p(token) under the model's own distribution at this step (before temperature, top-p
        or a grammar reshape it): how sure the model was, not how sure the sampler was made to be.
        Read from the logits llama.cpp just sampled from (~0.1 ms for a 50k vocabulary)."""
        import numpy as np

        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.llm.n_vocab(),)).astype(np.float64)
        top = logits.max()
        return float(logits[token] - top - np.log(np.exp(logits - top).sum()))

    def _is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    def close(self) -> None:
        self.llm.close()
