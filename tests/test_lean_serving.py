"""Serving without scikit-learn, scipy, presidio and spaCy, computing what they computed.

The base install leaves them out (issue 18: a lean server). What serving used from them is
rewritten in rightmodel; each rewrite is compared here with the library it replaces (installed in
the dev venv: [train] brings scikit-learn and scipy, [dev] presidio-analyzer), value for value.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVING_NEVER_IMPORTS = ("sklearn", "scipy", "presidio_analyzer", "spacy", "thinc", "torch", "transformers")


def _texts(n: int = 400, seed: int = 3) -> list[str]:
    """Messages with names, numbers and addresses in several scripts and cases, plus noise."""
    rng = random.Random(seed)
    words = ("Isabel Morales", "isabel morales", "Dr. O'Neil-Smith", "van der Berg", "Zoë Łukasz", "José", "Müller", "李小龙",
             "call me at", "+44 20 7946 0958", "my card 4111 1111 1111 1111", "4111-1111-1111-1112", "IBAN DE89 3704 0044 0532 0130 00",
             "gb82west12345698765432", "GB82 WEST 1234 5698 7654 32", "SSN 078-05-1120", "123-45-6789", "536 22 1234",
             "10.0.0.1", "192.168.1.300", "::1", "2001:db8::ff00:42:8329", "::ffff:10.1.2.3", "fe80::1%eth0",
             "anna.k+tag@example.co.uk", "bob@localhost", "x@y.z", "Porter/troy91@example.net", "Regards,", "Dear",
             "the", "Summarize", "invoice 123456789", "order #55512", "ÉLISE", "déjà vu", "\n", ".", ",", "!", "(", ")")
    out = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))) for _ in range(n)]
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef .-/@:"
    out += ["".join(rng.choice(chars) for _ in range(rng.randint(5, 80))) for _ in range(n // 2)]
    return out


def test_stop_words_are_sklearns() -> None:
    text = pytest.importorskip("sklearn.feature_extraction.text")
    from rightmodel.privacy.stop_words import ENGLISH_STOP_WORDS

    assert ENGLISH_STOP_WORDS == text.ENGLISH_STOP_WORDS


def test_feature_hashing_is_sklearns_feature_hasher() -> None:
    """Columns and weight sums of the PERSON tagger's passes, against FeatureHasher + CSR + bincount (what it used)."""
    fe = pytest.importorskip("sklearn.feature_extraction")
    from rightmodel.privacy.name_scoring import Pass, hash_index

    n = 2**21
    rng = np.random.default_rng(0)
    features = [f"w={t}" for t in " ".join(_texts(200)).split()] + ["", "é", "\u0000", "名前", "a" * 300, "x|y|z"]
    hasher = fe.FeatureHasher(n_features=n, input_type="string", alternate_sign=False)
    x = hasher.transform([[f] for f in features])
    assert [hash_index(f, n) for f in features] == x.indices.tolist()

    again = hash_index(features[0], n)
    weights_index = np.concatenate([rng.choice(n, 50_000, replace=False), [again, again]])  # a repeated column: the last value counts
    values = rng.normal(size=50_002).astype(np.float32)
    dense = np.zeros(n, dtype=np.float32)  # how the tagger held its weights before
    dense[weights_index] = values
    rows = [[features[i] for i in rng.integers(0, len(features), rng.integers(0, 12))] for _ in range(3000)]
    rows += [[features[0]] * 3 + [features[1]], [], ["w=" + str(i) for i in range(2000)]]  # repeats count; an empty row is 0
    p = Pass(weights_index, values, 0.0, lambda key: rows[key], n)
    ours = p.sums(list(range(len(rows))))
    m = hasher.transform(iter(rows))
    ids = np.repeat(np.arange(len(rows)), np.diff(m.indptr))
    theirs = np.bincount(ids, weights=dense[m.indices] * m.data, minlength=len(rows))
    assert np.array_equal(ours, theirs)


def test_tfidf_router_rows_and_products_are_sklearn_and_scipys() -> None:
    """A served TF-IDF router: analyzer = CountVectorizer's, scores = scipy's CSR product to the bit."""
    text = pytest.importorskip("sklearn.feature_extraction.text")
    from rightmodel.router.textfeatures import NGRAMS, Tfidf, analyze

    texts = _texts(600)
    reference = text.CountVectorizer(ngram_range=NGRAMS).build_analyzer()
    assert all(analyze(t) == reference(t) for t in texts)
    tfidf = Tfidf().fit(texts[:400])
    coef = np.random.default_rng(1).normal(size=(3, len(tfidf.idf))).astype(np.float32)
    for batch in (texts[400:], texts[400:401], ["", "nothing known here"]):
        for right in (coef.T, coef[:1].T):
            assert np.array_equal(tfidf.matmul(batch, right), np.asarray(tfidf.transform(batch) @ right))


def test_recognizers_find_what_presidios_find() -> None:
    """rightmodel.privacy.recognizers against presidio-analyzer's recognizers built the same way."""
    presidio = pytest.importorskip("presidio_analyzer")
    from rightmodel.privacy import recognizers as ours
    from rightmodel.privacy.iban_patterns import regex_per_country
    from presidio_analyzer.predefined_recognizers.generic import iban_patterns

    assert regex_per_country == iban_patterns.regex_per_country
    card = [(r"(?<![\d+-])(?:\d{12,19}|\d{4}(?P<s>[ .-])\d{4}(?:(?P=s)\d{4}){1,2})(?![\d-])", 0.3)]
    built = []
    for cls, kwargs in (("EmailRecognizer", {}), ("CreditCardRecognizer", {"replacement_pairs": [("-", ""), (" ", ""), (".", "")]}),
                        ("IbanRecognizer", {}), ("UsSsnRecognizer", {}), ("IpRecognizer", {})):
        pair = []
        for module, pattern in ((ours, ours.Pattern), (presidio.predefined_recognizers, presidio.Pattern)):
            extra = {"patterns": [pattern("c", rx, s) for rx, s in card]} if cls == "CreditCardRecognizer" else {}
            pair.append(getattr(module, cls)(**extra, **kwargs))
        built.append(pair)
        if cls == "CreditCardRecognizer":
            built.append([getattr(m, cls)() for m in (ours, presidio.predefined_recognizers)])  # presidio's own pattern too
    custom = {"patterns": [("e0", r"EMP-\d{4,6}", 0.9), ("e1", r"\b[A-Z]{3}\d{3}\b", 0.6)], "deny_list": ["Project Falcon", "acme+", "x.y"],
              "deny_list_score": 0.9}
    built.append([
        ours.PatternRecognizer("EMPLOYEE_ID", patterns=[ours.Pattern(*p) for p in custom["patterns"]], deny_list=custom["deny_list"],
                               deny_list_score=0.9),
        presidio.PatternRecognizer(supported_entity="EMPLOYEE_ID", patterns=[presidio.Pattern(*p) for p in custom["patterns"]],
                                   deny_list=custom["deny_list"], deny_list_score=0.9),
    ])
    from rightmodel.privacy.patterns import patch_tldextract_offline

    patch_tldextract_offline()
    texts = _texts() + ["EMP-12345 and ABC123 on Project Falcon, acme+ x.y", "DE89370400440532013000 2 days from today"]
    found = 0
    for text in texts:
        for a, b in built:
            mine = [tuple(r) for r in a.analyze(text, [a.supported_entity], None)]
            theirs = [(r.entity_type, r.start, r.end, r.score) for r in b.analyze(text, [b.supported_entities[0]], None)]
            assert mine == theirs, (text, mine, theirs)
            found += len(theirs)
        iban_a, iban_b = built[3]
        for candidate in (text.upper().replace(" ", ""), text.upper()):
            assert iban_a.validate_result(candidate) == iban_b.validate_result(candidate)
    assert found > 300


def test_serving_imports_none_of_them() -> None:
    """The gateway app plus the default privacy detector, detecting: no scikit-learn, scipy, presidio, spaCy or torch."""
    probe = (
        "import sys\n"
        "import rightmodel.gateway.app\n"
        "from rightmodel.privacy.config import PrivacyConfig\n"
        "from rightmodel.privacy.detector import Detector\n"
        "from rightmodel.router.textfeatures import Tfidf\n"
        "d = Detector(PrivacyConfig())\n"
        "assert d.detect('Isabel Morales, isabel@example.com, 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00, 10.0.0.1')\n"
        "t = Tfidf({'hello': 0, 'world': 1}, __import__('numpy').ones(2, 'float32'))\n"
        "t.matmul(['hello world'], __import__('numpy').ones((2, 1), 'float32'))\n"
        f"print([m for m in {SERVING_NEVER_IMPORTS!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"')) == []
