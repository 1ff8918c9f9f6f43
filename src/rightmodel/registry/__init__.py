"""Model registry: immutable, checksummed version directories indexed in SQL, with stages
(candidate → production → archived), golden-set-gated promotion and an audit trail."""

from rightmodel.registry.registry import ModelVersion, PromotionResult, Registry

__all__ = ["ModelVersion", "PromotionResult", "Registry"]
