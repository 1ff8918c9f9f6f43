"""Distillation: frontier answers captured per task become the training data of its next specialist.

``store``: the capture table; ``capturer``: the gateway's background writer with retention;
``dataset``: captures → a deduplicated labelled dataset (free-text answers normalised to labels);
``cli``: ``rightmodel distill TASK``.
"""
