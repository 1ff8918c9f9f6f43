"""Serving without scikit-learn and scipy, computing what they computed.

The base install leaves them out (issue 18: a lean server). What serving used from them is
rewritten in rightmodel; each rewrite is compared here with the library it replaces (installed in
the dev venv through [train]), value for value. presidio-analyzer and spaCy are out of the base
install too: rightmodel's own recognizers (privacy/recognizers.py) decide e-mail, card, IBAN, SSN
and IP findings, and spaCy is loaded only for the opt-in LOCATION type.
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
SERVING_NEVER_IMPORTS = ("sklearn", "scipy", "torch", "transformers", "presidio_analyzer", "spacy", "thinc")


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


def test_serving_imports_none_of_them() -> None:
    """The gateway app plus the default privacy detector, detecting, import none of scikit-learn,
    scipy, torch, transformers, presidio or spaCy, although this (dev) venv has them all: whatever
    imports one is named (an import hook records the first file outside importlib behind it)."""
    probe = (
        "import sys, traceback\n"
        f"FORBIDDEN = {SERVING_NEVER_IMPORTS!r}\n"
        "asked = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in FORBIDDEN and '.' not in name:\n"
        "            frames = [f for f in traceback.extract_stack() if 'importlib' not in f.filename and '<frozen' not in f.filename]\n"
        "            asked.append((name, frames[-2].filename if len(frames) > 1 else '?'))\n"
        "        return None\n"
        "sys.meta_path.insert(0, Watch())\n"
        "import rightmodel.gateway.app\n"
        "from rightmodel.privacy.config import PrivacyConfig\n"
        "from rightmodel.privacy.detector import Detector\n"
        "from rightmodel.router.textfeatures import Tfidf\n"
        "d = Detector(PrivacyConfig())\n"
        "assert d.detect('Isabel Morales, isabel@example.com, 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00, 10.0.0.1')\n"
        "t = Tfidf({'hello': 0, 'world': 1}, __import__('numpy').ones(2, 'float32'))\n"
        "t.matmul(['hello world'], __import__('numpy').ones((2, 1), 'float32'))\n"
        "import json\n"
        "print(json.dumps(sorted(set(asked))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
