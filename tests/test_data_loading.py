"""read_labelled and splits on every kind of file a user might hand us, good and bad."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from rightmodel.data import LabelledSet, LoadReport, kfold_indices, read_labelled, split_holdout
from rightmodel.errors import DataError


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", newline="")
    return p


def csv_rows(rows: list[tuple[str, str]], header: str = "text,label") -> str:
    return header + "\n" + "".join(f"{t},{lab}\n" for t, lab in rows)


BASIC = [("hello there", "greet"), ("hi", "greet"), ("bye now", "leave"), ("see you", "leave")]


# ---------- happy paths ----------

def test_basic_csv(tmp_path: Path) -> None:
    ds = read_labelled(write(tmp_path, "d.csv", csv_rows(BASIC)))
    assert ds.texts == ["hello there", "hi", "bye now", "see you"]
    assert ds.labels == [("greet",), ("greet",), ("leave",), ("leave",)]
    assert ds.label_names == ["greet", "leave"] and len(ds) == 4 and not ds.multi_label
    assert ds.report == LoadReport(4, {}, 0)
    assert ds.report.summary() == "4 rows, 0 skipped, 0 truncated"


def test_quoted_csv_with_newlines_and_commas(tmp_path: Path) -> None:
    content = 'text,label\n"line one\nline two, with comma",a\n"say ""hi""",a\nplain,b\nmore,b\n'
    ds = read_labelled(write(tmp_path, "q.csv", content))
    assert ds.texts[0] == "line one\nline two, with comma"
    assert ds.texts[1] == 'say "hi"' and len(ds) == 4


def test_crlf_csv(tmp_path: Path) -> None:
    ds = read_labelled(write(tmp_path, "c.csv", csv_rows(BASIC).replace("\n", "\r\n")))
    assert ds.labels[0] == ("greet",) and len(ds) == 4


def test_tsv(tmp_path: Path) -> None:
    content = "sentence\tintent\n" + "".join(f"{t}, really\t{lab}\n" for t, lab in BASIC)
    ds = read_labelled(write(tmp_path, "d.tsv", content))
    assert ds.texts[0] == "hello there, really" and ds.label_names == ["greet", "leave"]


def test_bom_and_case_insensitive_columns(tmp_path: Path) -> None:
    p = write(tmp_path, "b.csv", b"\xef\xbb\xbfText,Label\n" + csv_rows(BASIC, "").encode()[1:])
    ds = read_labelled(p)
    assert len(ds) == 4 and ds.texts[0] == "hello there"


def test_explicit_columns_and_extra_columns(tmp_path: Path) -> None:
    content = "id,body,tag,label\n" + "".join(f"{i},{t},{lab},zz\n" for i, (t, lab) in enumerate(BASIC))
    ds = read_labelled(write(tmp_path, "e.csv", content), text_col="body", label_col="tag")
    assert ds.label_names == ["greet", "leave"]


def test_jsonl_with_numbers_and_one_element_lists(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": [1]}, {"text": "c", "label": 0},
            {"text": "d", "label": "0", "extra": None}]
    ds = read_labelled(write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n"))
    assert ds.labels == [("1",), ("1",), ("0",), ("0",)]


def test_jsonl_multi_label_lists(tmp_path: Path) -> None:
    rows = [{"text": "a", "labels": ["x", "y"]}, {"text": "b", "labels": []},
            {"text": "c", "labels": ["y", "x", "x"]}, {"text": "d", "labels": "z"}]
    ds = read_labelled(write(tmp_path, "m.ndjson", "\n".join(json.dumps(r) for r in rows)),
                       multi_label=True)
    assert ds.multi_label and ds.labels == [("x", "y"), (), ("x", "y"), ("z",)]
    assert ds.label_names == ["x", "y", "z"]


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    rows = [{"text": "a\u2028b\x85c", "label": "p"}, {"text": "d", "label": "p"},
            {"text": "e", "label": "q"}, {"text": "f", "label": "q"}]
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    ds = read_labelled(write(tmp_path, "u.jsonl", text))
    assert ds.texts[0] == "a\u2028b\x85c" and len(ds) == 4


def test_json_list_file(tmp_path: Path) -> None:
    rows = [{"query": t, "class": lab} for t, lab in BASIC]
    ds = read_labelled(write(tmp_path, "d.json", json.dumps(rows)))
    assert len(ds) == 4 and ds.label_names == ["greet", "leave"]


def test_multi_label_csv_pipe_json_and_empty(tmp_path: Path) -> None:
    content = 'text,labels\na,x|y\nb,\nc," y | x "\nd,"[""z"", ""x""]"\n'
    ds = read_labelled(write(tmp_path, "m.csv", content), multi_label=True)
    assert ds.labels == [("x", "y"), (), ("x", "y"), ("x", "z")]
    ds2 = read_labelled(write(tmp_path, "m2.csv", "text,labels\na,x;y\nb,y\n"),
                        multi_label=True, label_sep=";")
    assert ds2.labels == [("x", "y"), ("y",)]


def test_unknown_extension_is_sniffed(tmp_path: Path) -> None:
    jl = "\n".join(json.dumps({"text": t, "label": lab}) for t, lab in BASIC)
    assert len(read_labelled(write(tmp_path, "a.txt", jl))) == 4
    assert len(read_labelled(write(tmp_path, "b.data", csv_rows(BASIC)))) == 4
    semi = "text;label\n" + "".join(f"{t};{lab}\n" for t, lab in BASIC)
    assert read_labelled(write(tmp_path, "c", semi)).label_names == ["greet", "leave"]


def test_skips_empty_text_and_missing_label(tmp_path: Path) -> None:
    rows = BASIC + [("   ", "greet"), ("", "leave"), ("orphan", ""), ("short row", None)]
    content = "text,label\n" + "".join(
        f"{t},{lab}\n" if lab is not None else f"{t}\n" for t, lab in rows)
    ds = read_labelled(write(tmp_path, "s.csv", content))
    assert len(ds) == 4
    assert ds.report.skipped == {"empty text": 2, "missing label": 2}
    assert ds.report.summary() == "8 rows, 4 skipped (empty text: 2, missing label: 2), 0 truncated"


def test_huge_field_is_read_and_truncated(tmp_path: Path) -> None:
    big = "x" * 5_000_000
    p = write(tmp_path, "big.csv", f'text,label\n"{big}",a\nsmall,a\nother,b\nmore,b\n')
    ds = read_labelled(p, max_chars=1000)
    assert len(ds.texts[0]) == 1000 and ds.report.truncated == 1 and len(ds) == 4


def test_100k_rows_is_fast(tmp_path: Path) -> None:
    lines = "".join(f'"row number {i}, with some words",label_{i % 50}\n' for i in range(100_000))
    p = write(tmp_path, "many.csv", "text,label\n" + lines)
    start = time.perf_counter()
    ds = read_labelled(p)
    assert time.perf_counter() - start < 2.0 and len(ds) == 100_000


# ---------- bad inputs ----------

@pytest.mark.parametrize("content", ["", "   \n\n", "text,label\n", "text,label\n\n\n"])
def test_empty_or_header_only(tmp_path: Path, content: str) -> None:
    with pytest.raises(DataError, match="is empty"):
        read_labelled(write(tmp_path, "e.csv", content))


def test_empty_jsonl_list_and_no_usable_rows(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty"):
        read_labelled(write(tmp_path, "e.json", "[]"))
    with pytest.raises(DataError, match=r"no usable rows \(skipped: empty text: 2\)"):
        read_labelled(write(tmp_path, "n.csv", "text,label\n,a\n  ,b\n"))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_labelled(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_labelled(tmp_path)


def test_missing_columns_auto(tmp_path: Path) -> None:
    p = write(tmp_path, "c.csv", "body,tag\na,b\n")
    with pytest.raises(DataError) as e:
        read_labelled(p)
    msg = str(e.value)
    assert "c.csv" in msg and "'body', 'tag'" in msg and "--text-col" in msg
    p2 = write(tmp_path, "c2.csv", "text,tag\na,b\n")
    with pytest.raises(DataError, match="--label-col"):
        read_labelled(p2)


def test_missing_column_explicit(tmp_path: Path) -> None:
    p = write(tmp_path, "c.csv", csv_rows(BASIC))
    with pytest.raises(DataError, match=r"no column 'body'; columns present: 'text', 'label'"):
        read_labelled(p, text_col="body")
    with pytest.raises(DataError, match="no column 'tag'"):
        read_labelled(p, label_col="tag")


def test_single_example_class_errors_then_drop_rare(tmp_path: Path) -> None:
    p = write(tmp_path, "r.csv", csv_rows(BASIC + [("lonely", "rare1")]))
    with pytest.raises(DataError) as e:
        read_labelled(p)
    assert "'rare1' (1)" in str(e.value) and "--drop-rare" in str(e.value)
    ds = read_labelled(p, drop_rare=True)
    assert "rare1" not in ds.label_names and ds.report.skipped == {"rare class": 1}


def test_rare_class_list_is_capped(tmp_path: Path) -> None:
    rows = BASIC + [(f"t{i}", f"c{i:02d}") for i in range(15)]
    with pytest.raises(DataError, match="and 5 more"):
        read_labelled(write(tmp_path, "r.csv", csv_rows(rows)))


def test_one_label_only(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least 2 different labels"):
        read_labelled(write(tmp_path, "o.csv", "text,label\na,x\nb,x\n"))
    rows = [("a", "x"), ("b", "x"), ("c", "y")]
    with pytest.raises(DataError, match="at least 2 different labels"):
        read_labelled(write(tmp_path, "o2.csv", csv_rows(rows)), drop_rare=True)


def test_non_utf8_bytes(tmp_path: Path) -> None:
    p = write(tmp_path, "l.csv", "text,label\ncaf\xe9 ok,a\nthe,a\nna\xefve,b\nx,b\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        read_labelled(p)
    msg = str(e.value)
    assert "l.csv" in msg and "line 2" in msg and "offset 14" in msg and "--encoding" in msg
    ds = read_labelled(p, encoding="latin-1")
    assert ds.texts[0] == "café ok"
    with pytest.raises(DataError, match="unknown encoding"):
        read_labelled(p, encoding="klingon")


def test_bad_json_line_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, "b.jsonl", '{"text": "a", "label": "x"}\n\n{"text": "b", label}\n')
    with pytest.raises(DataError, match=r"b\.jsonl, line 3: not valid JSON"):
        read_labelled(p)
    p2 = write(tmp_path, "b2.jsonl", '{"text": "a", "label": "x"}\n["b", "x"]\n')
    with pytest.raises(DataError, match="line 2: expected a JSON object"):
        read_labelled(p2)
    with pytest.raises(DataError, match="list of objects"):
        read_labelled(write(tmp_path, "b.json", '{"text": "a"}'))
    with pytest.raises(DataError, match="line 2: not valid JSON"):
        read_labelled(write(tmp_path, "c.json", '[\n{"text": }]'))


def test_several_labels_in_single_label_mode(tmp_path: Path) -> None:
    p = write(tmp_path, "m.jsonl", '{"text": "a", "label": ["x", "y"]}\n')
    with pytest.raises(DataError, match="line 1.*--multi-label"):
        read_labelled(p)
    p2 = write(tmp_path, "m.csv", 'text,label\na,"[""x"", ""y""]"\n')
    with pytest.raises(DataError, match="line 2.*--multi-label"):
        read_labelled(p2)


def test_multi_label_without_any_label(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no row has any label"):
        read_labelled(write(tmp_path, "m.csv", "text,labels\na,\nb,\n"), multi_label=True)


# ---------- LabelledSet ----------

def test_content_hash_stable_and_sensitive() -> None:
    a = LabelledSet.from_pairs(["x", "y"], ["p", "q"])
    assert a.content_hash() == LabelledSet.from_pairs(["x", "y"], ["p", "q"]).content_hash()
    assert len(a.content_hash()) == 64
    others = [(["x", "y"], ["p", "r"]), (["y", "x"], ["q", "p"]), (["x", "y "], ["p", "q"]),
              (["x"], ["p"]), (["x\ny"], ["pq"])]
    hashes = {LabelledSet.from_pairs(t, lab).content_hash() for t, lab in others}
    assert a.content_hash() not in hashes and len(hashes) == len(others)


def test_jsonl_round_trip(tmp_path: Path) -> None:
    single = LabelledSet.from_pairs(["a, b", "c\nd", "e", "f"], ["x", "x", "y", "y"])
    single.to_jsonl(tmp_path / "s.jsonl")
    assert read_labelled(tmp_path / "s.jsonl").content_hash() == single.content_hash()
    multi = LabelledSet.from_pairs(["a", "b"], [("x", "y"), ()], multi_label=True)
    multi.to_jsonl(tmp_path / "m.jsonl")
    back = read_labelled(tmp_path / "m.jsonl", multi_label=True)
    assert back.labels == multi.labels and back.multi_label


def test_from_pairs_and_subset() -> None:
    with pytest.raises(DataError, match="exactly one"):
        LabelledSet.from_pairs(["a"], [("x", "y")])
    with pytest.raises(DataError):
        LabelledSet(["a"], [], False)
    ds = LabelledSet.from_pairs(["a", "b", "c"], ["x", "y", "x"])
    sub = ds.subset([2, 0])
    assert sub.texts == ["c", "a"] and sub.labels == [("x",), ("x",)]
    assert ds.label_counts() == {"x": 2, "y": 1}


# ---------- splits ----------

def _imbalanced() -> LabelledSet:
    labels = ["big"] * 60 + ["mid"] * 30 + ["small"] * 8 + ["pair"] * 2
    return LabelledSet.from_pairs([f"t{i}" for i in range(len(labels))], labels)


def test_split_holdout_reproducible_and_stratified() -> None:
    ds = _imbalanced()
    rest, hold = split_holdout(ds, 0.2, seed=7)
    rest2, hold2 = split_holdout(ds, 0.2, seed=7)
    assert hold.texts == hold2.texts and rest.texts == rest2.texts
    assert split_holdout(ds, 0.2, seed=8)[1].texts != hold.texts
    assert len(hold) == 20 and len(rest) == 80
    assert sorted(rest.texts + hold.texts) == sorted(ds.texts)
    counts = Counter(lab[0] for lab in hold.labels)
    assert counts["big"] == 12 and counts["mid"] == 6 and 1 <= counts["small"] <= 2
    assert set(rest.label_names) == set(ds.label_names)


def test_split_holdout_tiny_classes_stay_in_rest() -> None:
    ds = LabelledSet.from_pairs([f"t{i}" for i in range(7)], ["a"] * 5 + ["b", "c"])
    rest, hold = split_holdout(ds, 0.5, seed=0)
    assert {"b", "c"} <= set(rest.label_names) and len(hold) >= 1
    assert set(rest.label_names) == {"a", "b", "c"}
    with pytest.raises(DataError):
        split_holdout(ds, 1.5, seed=0)
    with pytest.raises(DataError, match="single example"):
        split_holdout(LabelledSet.from_pairs(["a", "b"], ["x", "y"]), 0.5, seed=0)


def test_split_holdout_multi_label() -> None:
    labels = [("x",)] * 20 + [("x", "y")] * 10 + [()] * 20 + [("z",), ("w", "z")]
    ds = LabelledSet.from_pairs([f"t{i}" for i in range(len(labels))], labels, multi_label=True)
    rest, hold = split_holdout(ds, 0.5, seed=3)
    assert len(hold) == 26 and hold.multi_label
    c = Counter(hold.labels)
    assert c[("x",)] == 10 and c[("x", "y")] == 5 and c[()] == 10
    assert split_holdout(ds, 0.5, seed=3)[1].texts == hold.texts


def test_kfold_indices() -> None:
    folds = kfold_indices(10, 3, seed=1)
    tests = [i for _, t in folds for i in t]
    assert sorted(tests) == list(range(10))
    assert all(sorted(tr + te) == list(range(10)) for tr, te in folds)
    labels = ["a"] * 9 + ["b"] * 3
    for _, te in kfold_indices(12, 3, seed=0, labels=labels):
        assert sum(labels[i] == "b" for i in te) == 1
    assert kfold_indices(10, 3, seed=1) == folds
    with pytest.raises(DataError):
        kfold_indices(2, 3, seed=0)
