"""API keys: who may call the gateway, for what, how often and for how much.

Keys live in an SQL table (``auth_keys``, SQLite by default, any SQLAlchemy URL so several
gateway nodes share one store) and are managed with ``rightmodel keys create|list|revoke`` or the
gateway's ``/admin/keys`` routes. Only a SHA-256 of each key is stored; the secret is shown once,
when the key is made.
"""

from rightmodel.auth.keys import KeyRecord, KeySpec, generate_key, hash_key
from rightmodel.auth.store import KeyStore, resolve_keys_url

__all__ = ["KeyRecord", "KeySpec", "KeyStore", "generate_key", "hash_key", "resolve_keys_url"]
