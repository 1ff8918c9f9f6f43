"""The OpenAI-compatible gateway: the FastAPI app, request and response shapes, the guard and its
limits, deadlines and the CPU pool, metrics and the dashboard. The domain it serves (constellation,
routing, backends, privacy, ledger) lives beside it and never imports it (docs/architecture.md)."""
