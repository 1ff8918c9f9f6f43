"""The data layer: read a user's labelled file once, validate it, split it reproducibly.

Everything downstream (training, evaluation, benchmarks) takes a :class:`LabelledSet`, so the
rest of rightmodel never deals with file formats or bad rows.
"""

from rightmodel.data.labelled import LabelledSet, LoadReport, read_labelled
from rightmodel.data.splits import kfold_indices, split_holdout

__all__ = ["LabelledSet", "LoadReport", "kfold_indices", "read_labelled", "split_holdout"]
