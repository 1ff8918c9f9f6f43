"""The code-summarization bench's miner, splitter and metric (bench/generative_bench/) on a tiny tree."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from generative_bench import code_summary as cs  # noqa: E402
from generative_bench import summary_metrics as sm  # noqa: E402


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def _tree(root: Path) -> None:
    _write(root, "shapes/__init__.py", '''
        def area(w, h):
            """Return the area of a rectangle. Both sides must be positive."""
            return w * h
        ''')
    _write(root, "shapes/circle.py", '''
        class Circle:
            def grow(self, k):
                """Scale the radius by k, e.g. twice.

                More text that is not the summary.
                """
                self.r *= k
                return self

            def __repr__(self):
                """Return repr(self) for debugging purposes."""
                return "Circle"

        def stub(x):
            """Do something useful with x later on."""

        def same(a):
            """Return a unchanged for the caller."""
            return a
        ''')
    _write(root, "other.py", '''
        def same(a):
            """Return a unchanged for the caller."""
            return a

        def sig(a):
            """sig(a) -> int"""
            return 1
        ''')
    _write(root, "tests/test_x.py", '''
        def helper(a):
            """Check the helper returns its argument."""
            return a
        ''')
    _write(root, "broken.py", "def f(:\n    pass\n")


def test_pairs_strip_the_docstring_and_keep_its_first_sentence(tmp_path: Path) -> None:
    _tree(tmp_path)
    pairs = {(p.module, p.qualname): p for p in cs.mine(tmp_path)}
    assert set(pairs) == {("shapes", "area"), ("shapes.circle", "Circle.grow"), ("other", "same")}  # tests, stub, dunder,
    area, grow = pairs["shapes", "area"], pairs["shapes.circle", "Circle.grow"]                     # signature, duplicate: out
    assert area.summary == "Return the area of a rectangle."
    assert grow.summary == "Scale the radius by k, e.g. twice."
    assert '"""' not in grow.code and "More text" not in grow.code
    assert grow.code.startswith("def grow(self, k):\n") and "self.r *= k" in grow.code  # dedented, body kept
    assert area.group == "shapes" and grow.group == "shapes"


def test_no_module_in_two_splits(tmp_path: Path) -> None:
    for i in range(40):
        _write(tmp_path, f"pkg{i}/mod.py", f'''
            def f{i}(x):
                """Return x plus {i} for the test."""
                return x + {i}
            ''')
        _write(tmp_path, f"pkg{i}/sub/deep.py", f'''
            def g{i}(x):
                """Return x times {i} for the test."""
                return x * {i}
            ''')
    pairs = cs.mine(tmp_path)
    splits = cs.split_pairs(pairs)
    assert sum(len(v) for v in splits.values()) == len(pairs) == 80
    owners = {}
    for name, rows in splits.items():
        for p in rows:
            owners.setdefault(p.group, set()).add(name)
    assert all(len(s) == 1 for s in owners.values())  # a package and its submodules stay together
    assert all(splits[k] for k in ("train", "calibration", "test"))
    assert cs.split_pairs(pairs) == splits  # stable


def test_first_sentence_and_name_words() -> None:
    assert cs.first_sentence("Return x.\nMore on the same line. Then.\n\nDetails.") == "Return x."
    assert cs.first_sentence("Open the file i.e. the path given") == "Open the file i.e. the path given"
    assert cs.name_words("_get_configVars2") == "get config vars 2"


def test_smoothed_bleu_follows_codexglue() -> None:
    # hyp "return the number of items ." vs ref "return the number of items in the queue ." (CodeXGLUE tokens):
    # precisions 6/6, (4+1)/(5+1), (3+1)/(4+1), (2+1)/(3+1); brevity penalty exp(1 - 10/7)
    import math

    expected = math.exp((math.log(1) + math.log(5 / 6) + math.log(4 / 5) + math.log(3 / 4)) / 4 + 1 - 10 / 7) * 100
    assert abs(sm.smoothed_bleu4("Return the number of items.", "Return the number of items in the queue.") - expected) < 1e-9
    assert sm.smoothed_bleu4("", "Return x.") == 0.0
