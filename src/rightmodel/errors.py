"""One exception tree for everything rightmodel reports to a user.

Every error carries a message meant for a person; the CLI prints it without a traceback and
the gateway maps it once to OpenAI-shaped JSON.
"""

from __future__ import annotations


class RightmodelError(Exception):
    """Base of every error rightmodel raises on purpose."""

    exit_code: int = 1


class DataError(RightmodelError):
    """A data file cannot be used as given (missing column, bad encoding, too few examples...)."""

    exit_code = 2


class ConfigError(RightmodelError):
    """A setting or argument is invalid (unknown base directory, bad option)."""

    exit_code = 2


class ModelLoadError(RightmodelError):
    """A stored model version is missing files or fails its checksums."""


class RegistryError(RightmodelError):
    """A registry operation cannot be done (unknown task or version, wrong stage)."""


class PromotionRefused(RegistryError):
    """The candidate scores worse than production on the golden set and --force was not given."""


class TrainingInterrupted(RightmodelError):
    """Training stopped before it finished; nothing was registered."""

    exit_code = 130


def needs_train_extra(module: str, purpose: str) -> ConfigError:
    """The error for a training or evaluation path run in a serving install: scikit-learn and scipy
    are in the [train] extra, not the base install (serving never imports them)."""
    return ConfigError(f"{purpose} needs {module}, which the serving install leaves out: pip install 'rightmodel[train]'")
