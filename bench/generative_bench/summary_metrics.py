"""Scores for code summaries: CodeXGLUE's smoothed sentence BLEU-4 (through sacrebleu), chrF, and a
bootstrap over modules.

CodeXGLUE code-to-text (evaluator/bleu.py, adapted from Moses) scores each summary on its own and
averages: text lowercased and split into words and single punctuation marks (`[\\w]+|[^\\s\\w]`);
n-gram precisions for n = 1..4 with add-one smoothing on orders 2–4 (Lin & Och 2004); brevity penalty
min(0, 1 − (r+1)/(c+1)) in log space — both lengths plus one. Here the same tokens go to sacrebleu
(`tokenize='none'`), whose `add-k` smoothing with k = 1 is that same smoothing, and the brevity
penalty is reproduced by giving sacrebleu's `compute_bleu` the lengths plus one. What is left out:
CodeXGLUE's normalizer also unescapes a few HTML entities (&quot; &amp; &lt; &gt;), which code
docstrings rarely hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKENS = re.compile(r"[\w]+|[^\s\w]")


def codexglue_tokens(text: str) -> str:
    return " ".join(_TOKENS.findall(text.strip().lower()))


def smoothed_bleu4(hypothesis: str, reference: str) -> float:
    """One summary's smoothed BLEU-4, 0..100, as CodeXGLUE's code-to-text evaluator computes it."""
    from sacrebleu.metrics.bleu import BLEU

    hyp, ref = codexglue_tokens(hypothesis), codexglue_tokens(reference)
    # corpus_score of one sentence: sentence_score's statistics without its warning per call; unsmoothed,
    # because add-k smoothing adds k to the returned counts in place
    stats = BLEU(tokenize="none", smooth_method="none").corpus_score([hyp], [[ref]])
    return BLEU.compute_bleu(list(stats.counts), list(stats.totals), stats.sys_len + 1, stats.ref_len + 1,
                             smooth_method="add-k", smooth_value=1, effective_order=False).score


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (sacrebleu defaults), 0..100."""
    from sacrebleu.metrics import CHRF

    return CHRF().corpus_score(list(hypotheses), [list(references)]).score


def sentence_chrf(hypothesis: str, reference: str) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(hypothesis, [reference]).score


def cluster_bootstrap(values: Sequence[float], groups: Sequence[str], *, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of `values`, resampling whole groups (modules) with replacement:
    functions of one module resemble each other, so resampling single functions would claim more
    certainty than the data hold."""
    import numpy as np

    vals = np.asarray(values, dtype=float)
    names = sorted(set(groups))
    index = {g: i for i, g in enumerate(names)}
    gid = np.array([index[g] for g in groups])
    sums = np.bincount(gid, weights=vals, minlength=len(names))
    counts = np.bincount(gid, minlength=len(names)).astype(float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(names), size=(n, len(names)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
