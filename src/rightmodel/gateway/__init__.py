"""The OpenAI-compatible gateway: config, routing, backends and the FastAPI app."""
