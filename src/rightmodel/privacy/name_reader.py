"""A second reader for the names the tagger is unsure of: a small pretrained encoder, fine-tuned
to mark the word pieces of person names, that reads a window of words around each doubtful one.

Why: the tagger (name_tagger.py) is a linear model over the two words either side and a
gazetteer. It cannot tell "Questions go to Véronique." or "approved by Watt." from the
vocabulary its training put in such places; an encoder pretrained on English text reads the
whole window and knows what a name looks like there. It costs milliseconds per window where the
tagger costs microseconds per word, so it reads only windows around candidates the tagger
half-believes (probability in [low, threshold)), all windows of a text in one batch.

Training: `python -m rightmodel.privacy.train_reader` (see there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

READER_PATH = Path(__file__).resolve().parent / "data" / "name_reader.onnx"
TOKENIZER_PATH = Path(__file__).resolve().parent / "data" / "name_reader_tokenizer.json"
WINDOW = 5  # words either side of a doubtful one (8 found no more names, at 1.3x the cost)
MAX_PIECES = 96  # word pieces per window, special tokens included (a window's words past it are not read)
# Windows read per request at most, the first ones (ReadingBudget): the reader's cost per request
# stays bounded whatever it holds, a megabyte or ten thousand fields (about 50 ms on one core);
# later doubtful words keep the tagger's verdict. A ~1 KB request needs about two.
MAX_WINDOWS = 64
BATCH = 16  # windows per run, of similar length (less padding)


@dataclass
class ReadingBudget:
    """The windows the reader may still read for one request (a Detector call makes its own)."""

    windows: int = MAX_WINDOWS

    def take(self, wanted: int) -> int:
        granted = max(0, min(wanted, self.windows))
        self.windows -= granted
        return granted


class NameReader:
    """`probabilities(text, windows, targets)`: for each target character span, the highest
    probability the encoder gives one of its word pieces, read in the window given with it."""

    def __init__(self, model: Path = READER_PATH, tokenizer: Path = TOKENIZER_PATH, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(MAX_PIECES)
        self.tokenizer.no_padding()

    def probabilities(self, text: str, windows: list[tuple[int, int]], targets: list[list[tuple[int, int]]]) -> list[list[float]]:
        """windows: character ranges to read; targets[k]: character spans inside window k to score.
        A target the reader did not see (its words past MAX_PIECES) scores NaN: no verdict."""
        out: list[list[float]] = [[float("nan")] * len(spans) for spans in targets]
        if not windows:
            return out
        encodings = self.tokenizer.encode_batch([text[a:b] for a, b in windows])
        order = sorted(range(len(windows)), key=lambda k: len(encodings[k].ids))
        for chunk in (order[k:k + BATCH] for k in range(0, len(order), BATCH)):
            width = max(len(encodings[k].ids) for k in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, k in enumerate(chunk):
                ids[row, :len(encodings[k].ids)] = encodings[k].ids
                mask[row, :len(encodings[k].ids)] = 1
            (p,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            for row, k in enumerate(chunk):
                offset = windows[k][0]
                pieces = [(a + offset, b + offset) for a, b in encodings[k].offsets]
                for t, (start, end) in enumerate(targets[k]):
                    inside = [p[row, j] for j, (a, b) in enumerate(pieces) if a < b and start <= a and b <= end]
                    if inside:
                        out[k][t] = float(max(inside))
        return out
