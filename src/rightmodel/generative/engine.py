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


class _Watch:
    """llama-cpp-python's stopping criterion, called after every sampled token: counts the tokens
    and stops generation as soon as `cancel` is set."""

    def __init__(self, prompt_len: int, cancel: threading.Event, is_end) -> None:
        self.prompt_len, self.cancel, self.is_end = prompt_len, cancel, is_end
        self.sampled = 0
        self.ended = False

    def __call__(self, input_ids, _logits) -> bool:
        self.sampled = len(input_ids) - self.prompt_len
        self.ended = bool(self.is_end(int(input_ids[-1])))
        return self.cancel.is_set()

    @property
    def completion_tokens(self) -> int:
        return max(0, self.sampled - (1 if self.ended else 0))


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

    def generate(self, req: GenerationRequest, ids: list[int], cancel: threading.Event) -> tuple[Iterator[Piece], _Watch]:
        """Pieces of the answer as they are sampled, and the watch that counts its tokens."""
        room = self.n_ctx - len(ids)
        if room < 1:
            raise bad_request("messages", f"the prompt is {len(ids)} tokens; this model's context window is {self.n_ctx}",
                              code="context_length_exceeded")
        max_tokens = min(req.max_tokens or room, room)
        grammar = self.grammar(req)
        watch = _Watch(len(ids), cancel, self._is_end)
        from llama_cpp import StoppingCriteriaList

        chunks = self.llm.create_completion(
            prompt=ids,
            max_tokens=max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            top_k=0,  # OpenAI's semantics: no top-k cut, no min-p, no repeat penalty unless asked
            min_p=0.0,
            repeat_penalty=1.0,
            presence_penalty=req.presence_penalty,
            frequency_penalty=req.frequency_penalty,
            stop=req.stop,
            seed=req.seed,
            grammar=grammar,
            stream=True,
            stopping_criteria=StoppingCriteriaList([watch]),
        )
        return self._pieces(chunks, cancel), watch

    def _is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    @staticmethod
    def _pieces(chunks, cancel: threading.Event) -> Iterator[Piece]:
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                yield Piece(choice.get("text") or "", choice.get("finish_reason"))
                if cancel.is_set():
                    return
        finally:
            chunks.close()

    def close(self) -> None:
        self.llm.close()
