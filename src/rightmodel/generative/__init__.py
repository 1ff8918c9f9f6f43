"""Generative specialists: small causal language models served from GGUF files (llama.cpp).

One job per module: `base_model` finds the bundled base, `engine` runs one loaded model (chat
formatting, sampling, JSON-schema grammars, cancellation) and `backend` serves it as a
`ChatBackend` with bounded concurrency. Heavy libraries (llama_cpp, torch) are imported lazily.
"""
