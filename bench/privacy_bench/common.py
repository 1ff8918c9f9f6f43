"""Constants and small helpers shared by the parts of bench/privacy.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "bench" / "privacy"  # templates.yaml, detect-off.yaml, detect-on.yaml
for _p in (ROOT / "bench", ROOT / "tests", ROOT / "src"):  # bench/gateway.py, tests/upstream_server.py, rightmodel (src first)
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import gateway as gwbench  # noqa: E402  (bench/gateway.py: process handling, quiet-machine window, percentiles)

TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "PERSON", "LOCATION")
TARGETS = {"EMAIL_ADDRESS": 0.99, "PHONE_NUMBER": 0.99, "CREDIT_CARD": 0.99, "IBAN_CODE": 0.99, "US_SSN": 0.99,
           "IP_ADDRESS": 0.99, "PERSON": 0.90}  # strict recall; LOCATION has no target
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")
# The detectors compared: key in privacy.json -> label in privacy.md. "rightmodel" is the default
# Detector(PrivacyConfig()) (patterns + the trained PERSON tagger and its second reader), the one the targets are
# checked against; "tagger only" is the same without the second reader (privacy.name_reader: false).
LABELS = {"rightmodel": "rightmodel", "rightmodel_tagger_only": "rightmodel, tagger only", "rightmodel_location": "rightmodel + LOCATION", "rightmodel_spacy_names": "rightmodel, spaCy names",
          "presidio": "presidio"}
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")
UPSTREAM_PORT, PORT_OFF, PORT_ON = 18011, 18012, 18013
MODEL = "gpt-4o-mini"  # the remote model's name in bench/privacy/*.yaml
UPSTREAM_KEY_ENV = "PRIVACY_BENCH_UPSTREAM_KEY"
LOCK = Path("/tmp/bench.lock")
KB_MIN, KB_MAX = 950, 1150  # "1 KB" texts: characters
log = gwbench.log

Span = tuple[int, int, str]  # start, end, type


class BenchError(Exception):
    pass


def chat_body(text: str) -> dict:
    """The chat request the gateway gets for a text (and the in-process privacy step reads)."""
    return {"model": MODEL, "messages": [{"role": "user", "content": text}]}


def ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None
