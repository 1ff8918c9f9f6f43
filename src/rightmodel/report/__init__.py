"""`rightmodel report`: what the gateway did, from the ledger (one row per request), per group.

Groups: ``task``, ``model``, ``tenant``, ``day`` (UTC date of ``created_at``) or ``route``; a
missing task/model/tenant is its own group (``null`` in JSON, empty in CSV, ``(none)`` in the
table). Every report also has a total row over the whole window. The window is
``since <= created_at < until`` (both optional).

Definitions (per group and for the total; a ratio with a zero denominator is null):

- ``requests``: ledger rows, every status and route included (rejected and failed ones too).
- ``answered``: rows with ``status < 400``.
- ``served_locally``: answered rows with ``route == "specialist"``: a local specialist's answer
  (chat or ``/v1/classify``). Not counted: ``escalation_unavailable`` (the specialist was not
  confident and there was nowhere to escalate: no answer), ``embeddings`` (the bundled encoder,
  never a routing choice), and ``remote``/``escalated`` rows even when the model is a
  self-hosted remote marked ``local: true`` (the ledger row does not say so).
- ``local_share`` = served_locally / answered rows whose route is not ``embeddings``.
- ``escalation_rate`` = rows with ``escalated`` true / rows with a task (``task`` not null).
- ``error_rate`` = rows with ``status >= 400`` / requests.
- ``latency_p50_ms``, ``latency_p95_ms``, ``latency_p99_ms``: nearest-rank percentiles (the
  smallest recorded value with at least p% of values at or below it; PostgreSQL's
  ``percentile_disc``) of ``latency_ms`` over answered rows (errors excluded: a fast refusal
  would make latency look better).
- ``cost_usd``: sum of ``cost_usd`` (all rows: an escalation that failed still cost the local
  compute). ``counterfactual_cost_usd``: sum of ``counterfactual_cost_usd``, what the default
  frontier model would have cost for the same rows. ``savings_usd`` = counterfactual − actual;
  ``savings_pct`` = 100 × savings / counterfactual (a percentage; the rates above are
  fractions 0–1).
- ``tokens_in``, ``tokens_out``: sums.
- ``accuracy``: always null for now, with ``accuracy_note`` "no feedback recorded": the ledger
  holds no feedback on answers yet, so there is nothing to measure it from.
"""

from rightmodel.report.aggregate import BY_CHOICES, Report, build_report
from rightmodel.report.timespec import parse_time

__all__ = ["BY_CHOICES", "Report", "build_report", "parse_time"]
