"""Loaders for the public datasets shipped in the repository's ``datasets/`` folder.

They feed demos, tests and benchmarks with real data nobody on the project wrote, so results
can be compared with published numbers. Each loader knows its dataset's quirks (stray header
lines, line-aligned tag files, document-level folds) so callers get a plain LabelledSet.
Licences and citations: ``datasets/README.md``.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from rightmodel.data.labelled import LabelledSet, read_labelled
from rightmodel.errors import DataError

CLAUDETTE_CATEGORIES = ("a", "ch", "cr", "j", "law", "ltd", "ter", "use")
_UNFAIR_TAGS = {f"{c}{s}": c for c in CLAUDETTE_CATEGORIES for s in ("2", "3")}
_REVIEW_FILES = (("amazon", "amazon_cells_labelled.txt"), ("imdb", "imdb_labelled.txt"),
                 ("yelp", "yelp_labelled.txt"))
_POLARITY = {"0": "negative", "1": "positive"}
ROUTELLM_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ROUTELLM_STRONG = "gpt-4-1106-preview"


def datasets_root() -> Path:
    """The shipped datasets folder: ``$RIGHTMODEL_DATASETS`` if set, else the repo's ``datasets/``."""
    env = os.environ.get("RIGHTMODEL_DATASETS")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "datasets"
    if not root.is_dir():
        raise DataError(
            f"shipped datasets folder not found at {root}; set RIGHTMODEL_DATASETS to the "
            "folder holding banking77/, reviews_sentiment/, unfair_tos_claudette/"
        )
    return root


def _dataset_dir(name: str) -> Path:
    d = datasets_root() / name
    if not d.is_dir():
        raise DataError(f"dataset '{name}' is missing: no folder {d}")
    return d


def _lines(path: Path) -> list[str]:
    """Lines split on '\\n' only: the data holds U+0085 inside sentences, which splitlines breaks on."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]


def banking77(split: str) -> LabelledSet:
    """BANKING77 customer-support intents: "train" (10,003 rows) or "test" (3,080), 77 labels."""
    if split not in ("train", "test"):
        raise DataError(f"banking77 split must be 'train' or 'test', got '{split}'")
    path = _dataset_dir("banking77") / f"{split}.csv"
    return read_labelled(path, text_col="text", label_col="category")


def _reviews() -> tuple[list[str], list[tuple[str, ...]], list[str]]:
    root = _dataset_dir("reviews_sentiment")
    texts: list[str] = []
    labels: list[tuple[str, ...]] = []
    domains: list[str] = []
    for domain, name in _REVIEW_FILES:
        for n, line in enumerate(_lines(root / name), start=1):
            if not line.strip() or (n == 1 and line.strip() == "Review"):
                continue  # amazon and yelp start with a stray "Review" line
            text, _, label = line.rpartition("\t")
            if label.strip() not in _POLARITY or not text.strip():
                raise DataError(f"{root / name}, line {n}: expected 'sentence<TAB>0|1'")
            texts.append(text.strip())
            labels.append((_POLARITY[label.strip()],))
            domains.append(domain)
    return texts, labels, domains


def reviews_sentiment() -> LabelledSet:
    """UCI Sentiment Labelled Sentences: 3,000 amazon/imdb/yelp sentences, negative/positive."""
    texts, labels, _ = _reviews()
    return LabelledSet(texts, labels, False, "reviews_sentiment")


def reviews_sentiment_domains() -> list[str]:
    """Source domain ("amazon", "imdb", "yelp") of each row of :func:`reviews_sentiment`."""
    return _reviews()[2]


def _claudette_doc(root: Path, name: str) -> LabelledSet:
    sentences = _lines(root / "sentences" / f"{name}.txt")
    tags = _lines(root / "tags" / f"{name}.txt")
    if len(sentences) != len(tags):
        raise DataError(f"claudette document {name}: {len(sentences)} sentences but "
                        f"{len(tags)} tag lines")
    labels = [tuple(sorted({_UNFAIR_TAGS[t] for t in line.split() if t in _UNFAIR_TAGS}))
              for line in tags]
    return LabelledSet([s.strip() for s in sentences], labels, True, f"claudette:{name}")


def claudette_documents() -> dict[str, LabelledSet]:
    """CLAUDETTE terms of service, one multi-label set per company (50 docs, 17,383 sentences).

    A sentence gets category ``c`` iff its tag line has ``c2`` or ``c3`` (potentially or clearly
    unfair); fair (suffix 1), ``pinc`` and ``countrym`` tags are ignored, so most get no label.
    """
    root = _dataset_dir("unfair_tos_claudette")
    names = sorted(p.stem for p in (root / "sentences").glob("*.txt"))
    if not names:
        raise DataError(f"no documents in {root / 'sentences'}")
    return {name: _claudette_doc(root, name) for name in names}


def claudette_fold_documents() -> list[tuple[list[str], list[str]]]:
    """Document names (train, test) of the 5 official folds; list files name ``<Company>.txt``."""
    lists = _dataset_dir("unfair_tos_claudette") / "lists"
    folds = []
    for k in range(5):
        parts = []
        for kind in ("TRAIN", "TEST"):
            names = [ln.strip() for ln in _lines(lists / f"LIST_{kind}_{k}.txt") if ln.strip()]
            parts.append([n[:-4] if n.endswith(".txt") else n for n in names])
        folds.append((parts[0], parts[1]))
    return folds


def _concat(docs: dict[str, LabelledSet], names: list[str], source: str) -> LabelledSet:
    missing = [n for n in names if n not in docs]
    if missing:
        raise DataError(f"claudette fold lists name unknown documents: {', '.join(missing)}")
    texts = [t for n in names for t in docs[n].texts]
    labels = [lab for n in names for lab in docs[n].labels]
    return LabelledSet(texts, labels, True, source)


def claudette_folds() -> list[tuple[LabelledSet, LabelledSet]]:
    """The 5 document-level (train, test) folds, 40/10 documents; test parts partition the 50."""
    docs = claudette_documents()
    return [
        (_concat(docs, train, f"claudette fold {k} train"),
         _concat(docs, test, f"claudette fold {k} test"))
        for k, (train, test) in enumerate(claudette_fold_documents())
    ]


@dataclass(frozen=True)
class RouterExample:
    """One MMLU prompt and whether the weak (Mixtral) and strong (GPT-4) model got it right."""

    subject: str
    prompt: str
    weak_correct: bool
    strong_correct: bool


def routellm_mmlu() -> list[RouterExample]:
    """RouteLLM MMLU responses minus the 5 contaminated prompts: 14,037 rows over 57 subjects.

    Prompts repeat (13,932 unique), so evaluation must split by prompt or subject, not row.
    """
    root = _dataset_dir("routellm_mmlu")
    contaminated = {json.loads(ln)["eval_prompt"]
                    for ln in _lines(root / "contaminated_prompts.jsonl") if ln.strip()}
    rows: list[RouterExample] = []
    for path in sorted(root.glob("mmlu_*.csv")):
        subject = path.stem[len("mmlu_"):]
        with open(path, encoding="utf-8", newline="") as f:
            for rec in csv.DictReader(f):
                if rec["prompt"] in contaminated:
                    continue
                rows.append(RouterExample(subject, rec["prompt"], rec[ROUTELLM_WEAK] == "True",
                                          rec[ROUTELLM_STRONG] == "True"))
    return rows
