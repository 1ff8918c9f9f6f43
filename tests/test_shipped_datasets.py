"""The public datasets shipped in datasets/ load with the shapes their README promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rightmodel.data import shipped
from rightmodel.errors import DataError


def test_datasets_root_default_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RIGHTMODEL_DATASETS", raising=False)
    root = shipped.datasets_root()
    assert root.name == "datasets" and (root / "banking77" / "train.csv").is_file()
    assert "shared" not in root.parts
    monkeypatch.setenv("RIGHTMODEL_DATASETS", str(tmp_path))
    assert shipped.datasets_root() == tmp_path
    with pytest.raises(DataError, match="dataset 'banking77' is missing"):
        shipped.banking77("train")
    monkeypatch.setenv("RIGHTMODEL_DATASETS", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="RIGHTMODEL_DATASETS"):
        shipped.datasets_root()


def test_licences_are_shipped() -> None:
    root = shipped.datasets_root()
    for rel in ("banking77/LICENSE", "reviews_sentiment/LICENSE", "unfair_tos_claudette/LICENSE.txt",
                "routellm_mmlu/LICENSE", "README.md"):
        assert (root / rel).is_file(), rel


def test_banking77() -> None:
    train, test = shipped.banking77("train"), shipped.banking77("test")
    assert len(train) == 10_003 and len(test) == 3_080
    assert len(train.label_names) == 77 and train.label_names == test.label_names
    assert set(Counter(lab[0] for lab in test.labels).values()) == {40}
    assert any("\n" in t for t in train.texts)  # quoted multi-line texts parsed as one row
    with pytest.raises(DataError, match="'train' or 'test'"):
        shipped.banking77("validation")


def test_reviews_sentiment() -> None:
    ds = shipped.reviews_sentiment()
    domains = shipped.reviews_sentiment_domains()
    assert len(ds) == 3_000 and len(domains) == 3_000
    assert Counter(lab[0] for lab in ds.labels) == {"negative": 750 * 2, "positive": 1_500}
    assert Counter(domains) == {"amazon": 1_000, "imdb": 1_000, "yelp": 1_000}
    assert "Review" not in ds.texts and all("\t" not in t for t in ds.texts)


def test_claudette_documents() -> None:
    docs = shipped.claudette_documents()
    assert len(docs) == 50
    assert sum(len(d) for d in docs.values()) == 17_383
    assert all(d.multi_label for d in docs.values())
    labels = [lab for d in docs.values() for lab in d.labels]
    n_labelled = sum(1 for lab in labels if lab)
    assert 0 < n_labelled < 0.1 * len(labels)  # most sentences carry no unfair category
    seen = {c for lab in labels for c in lab}
    assert seen == set(shipped.CLAUDETTE_CATEGORIES)


def test_claudette_folds_partition_documents() -> None:
    names = set(shipped.claudette_documents())
    fold_docs = shipped.claudette_fold_documents()
    assert len(fold_docs) == 5
    for train, test in fold_docs:
        assert len(train) == 40 and len(test) == 10
        assert set(train) | set(test) == names and not set(train) & set(test)
    all_test = [n for _, test in fold_docs for n in test]
    assert sorted(all_test) == sorted(names)
    folds = shipped.claudette_folds()
    assert all(len(tr) + len(te) == 17_383 for tr, te in folds)
    assert sum(len(te) for _, te in folds) == 17_383


def test_routellm_mmlu() -> None:
    rows = shipped.routellm_mmlu()
    assert len(rows) == 14_037 and len({r.prompt for r in rows}) == 13_932
    assert len({r.subject for r in rows}) == 57
    strong = sum(r.strong_correct for r in rows) / len(rows)
    weak = sum(r.weak_correct for r in rows) / len(rows)
    assert round(strong, 3) == 0.806 and round(weak, 3) == 0.681
