"""Code summarization pairs mined from any Python source tree: function without its docstring → the
docstring's first sentence.

By default the tree is the running interpreter's standard library (no download), but any directory
works (`mine(root)`), so the same code mines another code base for an out-of-domain check. Pairs are
split **by top-level module** (a package and all its submodules count as one: `email.mime.text` and
`email.utils` never land in different splits), by a stable hash of its name, so no code of a test
module was seen in training.

Filters, all generic (nothing here knows a module's name except the test-suite and vendored-code
rules): functions and methods with a docstring whose first sentence is 3–40 words and reads as prose
(not a signature such as `f(x) -> int`, not a doctest, not a field list); a body left after the
docstring is removed (no stubs); dunder methods skipped (their docstrings are boilerplate such as
"Return repr(self)."); sources deduplicated (an identical function in two places is kept once, so it
cannot sit in train and test); length capped in tokens by the caller (`max_tokens`, with a
tokenizer's `count`), so training fits the time budget.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sysconfig
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Directories never mined: test suites, vendored third-party code, bytecode caches.
SKIP_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "_vendor", "vendor"})
SPLITS = (("train", 0.70), ("calibration", 0.85), ("test", 1.0))  # cumulative shares of the module hash

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`'\"])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "approx.", "resp.", "Mr.", "Dr.", "No.")
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)\s*(->|$)")  # "S.find(sub[, start]) -> int" style first lines
_FIELD = re.compile(r"^(:\w|@\w|>>>|Args:|Arguments:|Parameters\b|Returns?:|Example)")


@dataclass(frozen=True)
class Pair:
    module: str  # dotted module path relative to the mined root
    group: str  # the split unit: the top-level module or package
    qualname: str  # Class.method or function
    code: str  # the function's source without its docstring, dedented
    summary: str  # the docstring's first sentence

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


def first_sentence(text: str) -> str:
    """The first sentence of the first paragraph, on one line ('' when there is none).

    A paragraph that never ends a sentence (a one-line docstring without a full stop) counts as one
    sentence; common abbreviations (e.g., i.e.) do not end one."""
    paragraph = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0] if text.strip() else ""
    paragraph = " ".join(paragraph.split())
    if not paragraph:
        return ""
    masked = paragraph
    for abbr in _ABBREVIATIONS:
        masked = masked.replace(abbr, abbr.replace(".", "\0"))
    m = _SENTENCE_END.search(masked)
    return paragraph[:m.start()].strip() if m else paragraph


def usable_summary(sentence: str, min_words: int = 3, max_words: int = 40) -> bool:
    """Prose of reasonable length: not a signature line, a doctest or a parameter list."""
    words = sentence.split()
    return (min_words <= len(words) <= max_words and not _SIGNATURE.match(sentence) and not _FIELD.match(sentence)
            and sum(c.isalpha() for c in sentence) >= 0.5 * len(sentence))


def split_of(group: str, salt: str = "") -> str:
    """train / calibration / test from a stable hash of the group name (the same on every machine and run)."""
    h = int.from_bytes(hashlib.sha256((salt + group).encode()).digest()[:8], "big") / 2**64
    return next(name for name, upper in SPLITS if h < upper)


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def python_files(root: Path) -> Iterator[Path]:
    """Every .py file under root outside test suites and vendored code, in a stable order."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
            continue
        if parts[-1].startswith(("test_", "conftest")) or parts[-1].endswith("_test.py"):
            continue
        yield path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] or [root.name]
    return ".".join(parts)


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualname, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def strip_docstring(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The function's source (decorators included) with its docstring's lines removed, dedented;
    None when that cannot be done cleanly (docstring on the def line, or nothing left in the body)."""
    doc = node.body[0]
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    if len(node.body) < 2 or doc.lineno <= node.lineno or node.body[1].lineno <= doc.end_lineno:
        return None
    head = lines[start - 1:doc.lineno - 1]
    tail = lines[doc.end_lineno:node.end_lineno]
    if lines[doc.lineno - 1][:doc.col_offset].strip() or lines[doc.end_lineno - 1][doc.end_col_offset:].strip():
        return None  # the docstring shares a line with other code
    return textwrap.dedent("".join(head + tail)).rstrip() + "\n"


def mine(root: Path, *, count: Callable[[str], int] | None = None, max_tokens: int = 256, prefix: str = "") -> list[Pair]:
    """Every usable (code, summary) pair under root, deduplicated by code, in a stable order.

    `count` measures a source in the model's tokens; sources longer than `max_tokens` are dropped
    (without `count`, ~4 characters a token is assumed). With `prefix` (a package's directory mined
    as another code base) modules are named `prefix.module` and the whole tree is one group."""
    count = count or (lambda s: len(s) // 4)
    pairs: list[Pair] = []
    seen: set[str] = set()
    for path in python_files(root):
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # e.g. Python 2 fixtures; not code this interpreter runs
        lines = source.splitlines(keepends=True)
        module = module_name(root, path)
        module = f"{prefix}.{module}" if prefix and module != root.name else (prefix or module)
        for qualname, node in _functions(tree):
            if node.name.startswith("__") and node.name.endswith("__"):
                continue
            doc = ast.get_docstring(node, clean=True)
            if not doc:
                continue
            summary = first_sentence(doc)
            if not usable_summary(summary):
                continue
            code = strip_docstring(lines, node)
            if code is None or code in seen or count(code) > max_tokens:
                continue
            seen.add(code)
            pairs.append(Pair(module, prefix or module.split(".")[0], qualname, code, summary))
    return pairs


def split_pairs(pairs: list[Pair], salt: str = "") -> dict[str, list[Pair]]:
    """{train, calibration, test}: every pair of a group (top-level module) in the same split."""
    out: dict[str, list[Pair]] = {name: [] for name, _ in SPLITS}
    for p in pairs:
        out[split_of(p.group, salt)].append(p)
    return out


def name_words(name: str) -> str:
    """The name-split baseline: `_get_configVars2` → 'get config vars 2'."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ")
    words = re.sub(r"([A-Za-z])(\d)", r"\1 \2", words)
    return " ".join(words.lower().split())
