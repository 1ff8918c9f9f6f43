"""Sensitive-data detection, policies and redact-and-restore for the gateway (issue 5).

`PrivacyGate` is the gateway's entry point; `Detector` can be used on its own (bench/privacy.py).
"""

from rightmodel.privacy.config import BUILTIN_ENTITIES, CustomEntity, Policy, PrivacyConfig, strictest

__all__ = ["BUILTIN_ENTITIES", "CustomEntity", "Policy", "PrivacyConfig", "strictest"]
