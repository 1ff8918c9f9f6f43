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
- ``fixed_cost_usd``: ``defaults.local_fixed_cost_per_month`` pro rata over the window (from
  ``since``, else the first row, to ``until``, else now): in the total and per day; null for
  other groups (a task or tenant cannot be charged a share of a box). ``savings_usd`` and
  ``savings_pct`` subtract it where it is given.
- ``feedback``: answers with a verdict from ``POST /v1/feedback``; ``accuracy`` = correct ones /
  ``feedback``; ``mean_score``: mean of scores given. ``accuracy_note`` is "no feedback
  recorded" while there is none (accuracy null).

Then a section per specialist version (``versions``: consulted, answered, escalation rate, the
accuracy of the answers it served, of its own labels including escalated requests, and of its
guesses on escalated ones; report/versions.py) and ``drift`` flags for versions outside the
band configured for their task (report/drift.py). ``--by version`` groups the main table by
the specialist version consulted.
"""

from rightmodel.report.aggregate import BY_CHOICES, Report, build_report
from rightmodel.report.timespec import parse_time

__all__ = ["BY_CHOICES", "Report", "build_report", "parse_time"]
