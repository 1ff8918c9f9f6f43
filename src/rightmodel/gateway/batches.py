"""POST /v1/embeddings and POST /v1/classify: batch endpoints whose work is bounded.

A batch is cut into chunks of similar-length texts (at most `CHUNK_TEXTS` texts and about
`CHUNK_TOKENS` padded tokens each: long texts go a few at a time), and each chunk is one unit of
the gateway's CPU pool (gateway/cpu.py), weighted by the size of the whole request. So:

- other requests get a thread between two chunks, and a small request's chunk goes before the
  chunks of big ones;
- the request's deadline (`defaults.batch_deadline_s`) and its client are checked before every
  chunk: past the deadline, or once the client has gone, no further chunk starts (504 or 499);
- memory is bounded by a chunk (ONNX Runtime keeps its arena at the largest batch it has run:
  2,048 texts of 1 KB in batches of 64 texts × 256 tokens grew the process by 1.3 GB, issue 17).

Tokenisation runs in the chunk too, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from rightmodel.gateway.chat import JSON, error_response, record
from rightmodel.gateway.cpu import CpuPool
from rightmodel.gateway.deadlines import Scope, bounded
from rightmodel.gateway.errors import APIError
from rightmodel.gateway.ticket import Ticket
from rightmodel.gateway.validation import read_json, validate_classify, validate_embeddings
from rightmodel.specialists.encoder import BUNDLED_BASE

# The bundled encoder's name: what answers carry, what the ledger and /metrics record. It also
# answers to its Hugging Face id and to the name its build records ("... (bundled)").
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_NAMES = (EMBEDDING_MODEL, "sentence-transformers/all-MiniLM-L6-v2", BUNDLED_BASE)
CHUNK_TEXTS = 64
CHUNK_TOKENS = 1024  # padded tokens per chunk: 64 short texts, or 4 texts of 256 tokens
CLASSIFY_BATCH_INLINE = 8  # up to this many texts go through the specialist's micro-batcher; more run in chunks


def chunks(texts: list[str], max_tokens: int) -> list[list[int]]:
    """Indices of `texts` in chunks of similar length (shortest first). A text's tokens are
    estimated from its characters (about 3 per token, capped at the encoder's `max_tokens`)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = min(max_tokens, len(texts[i]) // 3 + 2)  # sorted: the widest so far, so the chunk's padded width
        if current and (len(current) >= CHUNK_TEXTS or (len(current) + 1) * width > CHUNK_TOKENS):
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out


def _embed_chunk(embedder: Any, texts: list[str]) -> tuple[np.ndarray, int, float]:
    started = time.perf_counter()
    ids = embedder.encode(texts)
    vectors = embedder.embed_ids(ids, batch_size=len(ids))
    return vectors, sum(len(r) for r in ids), time.perf_counter() - started


async def embed(pool: CpuPool, embedder: Any, texts: list[str], tenant: Any, scope: Scope) -> tuple[np.ndarray, int, float]:
    """Embeddings of `texts` in input order, their token count and compute seconds."""
    out = np.zeros((len(texts), embedder.dimensions), dtype=np.float32)
    tokens, compute, done = 0, 0.0, 0
    for idx in chunks(texts, embedder.max_length):
        vectors, n, seconds = await pool.run(
            _embed_chunk, embedder, [texts[i] for i in idx], tenant=tenant, deadline=scope.deadline, cancel=scope.cancelled, weight=len(texts)
        )
        out[idx] = vectors
        tokens += n
        compute += seconds
        done += len(idx)
        scope.progress[:] = [f"{done} of {len(texts)} texts were embedded by then; send fewer or shorter texts per request"]
    return out, tokens, compute


async def classify_all(pool: CpuPool, backend: Any, texts: list[str], top_k: int, tenant: Any, scope: Scope) -> list[Any]:
    """`Classification`s of `texts` in input order."""
    if len(texts) <= CLASSIFY_BATCH_INLINE:
        return list(await asyncio.gather(*(backend.classify(x, top_k) for x in texts)))
    results: list[Any] = [None] * len(texts)
    done = 0
    for idx in chunks(texts, backend.runtime.max_length):
        answers = await pool.run(
            backend.classify_many, [texts[i] for i in idx], top_k, tenant=tenant, deadline=scope.deadline, cancel=scope.cancelled,
            weight=len(texts),
        )
        for i, answer in zip(idx, answers):
            results[i] = answer
        done += len(idx)
        scope.progress[:] = [f"{done} of {len(texts)} texts were classified by then; send fewer or shorter texts per request"]
    return results


def _embedding_payload(vectors: np.ndarray, as_b64: bool, model: str, tokens: int) -> bytes:
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.astype(np.float32).tobytes()).decode() if as_b64 else v.tolist(),
        }
        for i, v in enumerate(vectors)
    ]
    return orjson.dumps({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def embedding_names(constellation: Any) -> tuple[str, ...]:
    """Every model name /v1/embeddings answers: the bundled encoder's, then `embeddings.aliases`."""
    return (*EMBEDDING_NAMES, *constellation.embeddings.aliases)


def embedding_model(constellation: Any, requested: str | None) -> str:
    """The name an embeddings answer carries: the one asked for, if this gateway serves it (no
    model: the encoder's own); else 404, so vectors never go out under another model's name."""
    if requested is None:
        return EMBEDDING_MODEL
    names = embedding_names(constellation)
    if requested not in names:
        raise APIError(404, f"the model '{requested[:200]}' does not exist on this gateway's /v1/embeddings: it serves "
                            f"{', '.join(names)} (add a name to embeddings.aliases to serve the bundled encoder under it)",
                       param="model", code="model_not_found")
    return requested


async def post_embeddings(request: Request) -> Response:
    state = request.app.state.gateway
    defaults = state.constellation.defaults
    t = Ticket("/v1/embeddings")
    try:
        body = await read_json(request, defaults.max_body_bytes, t.request_id)
        texts = validate_embeddings(body, defaults.max_batch_inputs, defaults.max_input_chars)
        await state.guard.admit(request, body, t)
        model = embedding_model(state.constellation, body.get("model"))
        t.route, t.reason = "embeddings", "embeddings endpoint"
        async with bounded(request, defaults.batch_deadline_s, t.start, "defaults.batch_deadline_s") as scope:
            embedder = await state.get_embedder()
            vectors, tokens, compute = await embed(state.cpu, embedder, texts, t.tenant, scope)
            as_b64 = body.get("encoding_format") == "base64"
            # Thousands of vectors take tens of milliseconds to write out: not on the event loop.
            payload = await state.cpu.run(_embedding_payload, vectors, as_b64, model, tokens, tenant=t.tenant, deadline=scope.deadline,
                                          weight=len(texts)) if len(texts) > CHUNK_TEXTS else _embedding_payload(vectors, as_b64, model, tokens)
    except APIError as err:
        return error_response(state, t, err)
    t.model_ms, t.model = compute * 1000.0, EMBEDDING_MODEL  # its name, whichever alias was asked for (never a path)
    if model != EMBEDDING_MODEL:
        t.extra["model_alias"] = model
    t.usage.prompt_tokens = tokens
    t.cost = state.costs.local(compute)
    record(state, t, 200)
    return Response(payload, media_type=JSON, headers={"x-request-id": t.request_id})


async def post_classify(request: Request) -> Response:
    state = request.app.state.gateway
    defaults = state.constellation.defaults
    t = Ticket("/v1/classify")
    try:
        body = await read_json(request, defaults.max_body_bytes, t.request_id)
        model, texts, top_k = validate_classify(body, defaults.max_batch_inputs, defaults.max_input_chars)
        await state.guard.admit(request, body, t)
        name = state.router.specialist_of.get(model) if model in state.constellation.tasks else model
        backend = state.specialists.get(name) if name is not None else None
        if backend is None:
            raise APIError(404, f"'{model}' is not a task or a specialist model of this gateway", param="model", code="model_not_found")
        t.task, t.route, t.reason = backend.version.task, "specialist", "classify endpoint"
        started = time.perf_counter()
        async with bounded(request, defaults.batch_deadline_s, t.start, "defaults.batch_deadline_s") as scope:
            results = await classify_all(state.cpu, backend, texts, top_k, t.tenant, scope)
        t.model_ms = (time.perf_counter() - started) * 1000.0
    except APIError as err:
        return error_response(state, t, err)
    threshold = state.constellation.tasks[model].threshold if model in state.constellation.tasks else None
    threshold = backend.threshold if threshold is None else threshold
    t.model = t.specialist = backend.ref
    if len(results) == 1:  # one text: feedback on this request id can be scored against its labels
        t.labels = list(results[0].labels)
    t.usage.prompt_tokens = sum(r.tokens for r in results)
    t.cost = state.costs.local(sum(r.compute_s for r in results))
    t.confidence = min(r.confidence for r in results)
    multi = backend.runtime.multi_label
    data = [
        {
            "index": i,
            "label": r.labels[0] if r.labels and not multi else None,
            "labels": list(r.labels),
            "probability": r.top[0][1] if r.top else None,
            "confidence": r.confidence,
            "accepted": r.confidence >= threshold,
            "top_k": [{"label": label, "probability": p} for label, p in r.top],
        }
        for i, r in enumerate(results)
    ]
    record(state, t, 200)
    return Response(
        orjson.dumps({"object": "list", "model": backend.ref, "threshold": threshold, "data": data, "usage": {"prompt_tokens": t.usage.prompt_tokens}}),
        media_type=JSON, headers={"x-request-id": t.request_id, "x-rightmodel-model": backend.ref},
    )
