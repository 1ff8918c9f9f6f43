"""`rightmodel report`: what the gateway did, from the ledger (one row per request), per group.

Groups: ``task``, ``model``, ``tenant``, ``day`` (UTC date of ``created_at``) or ``route``; a
missing task/model/tenant is its own group (``null`` in JSON, empty in CSV, ``(none)`` in the
table). Every report also has a total row over the whole window. The window is
``since <= created_at < until`` (both optional).

Every figure is computed once, by ``aggregate.metrics`` over the window's rows (the same
function and window for ``rightmodel report`` in every format, ``/dashboard/data`` and its
time buckets). In JSON and CSV every rate and share is a fraction (0.25), every amount of money
a number of US dollars; the table and the dashboard show rates as percentages (25.0%) and money
as dollars with no exponent ($0.000111).

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
  frontier model would have cost for the same rows.
- ``tokens_in``, ``tokens_out``: sums.
- ``fixed_cost_usd``: ``defaults.local_fixed_cost_per_month`` pro rata over the time the ledger
  covers in the window: from the window's first row to its last (``covered_from`` ..
  ``covered_until`` in JSON), never over the window's nominal length (a 24 h window over a
  gateway that ran 20 minutes is charged 20 minutes; a window with one row is charged nothing).
  A month is 365.25/12 days. In the total and per day (the part of the span in that UTC day);
  null for other groups (a task or tenant cannot be charged a share of a box).
- ``actual_cost_usd`` = ``cost_usd`` + ``fixed_cost_usd`` (where given): what the dashboard
  calls the actual cost. ``savings_usd`` = counterfactual − actual; ``savings_rate`` =
  savings / counterfactual.
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
