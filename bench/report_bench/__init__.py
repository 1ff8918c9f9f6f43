"""The parts of bench/report.py (`rightmodel report` on a 1M-row ledger, issue 6).

ledger     the seeded ledger: requests as the gateway writes them (schema 0003: specialist, labels)
           and the ledger_feedback verdicts on a share of task requests; evicting it from the page cache
naive      the baseline: SELECT * through SQLAlchemy and every number recomputed in Python, and the
           comparison with the report's JSON (groups, total, versions section)
inprocess  measurements in one Python process: percentile strategies in SQLite, build_dashboard

Run the benchmark with `python bench/report.py`; these modules are not entry points.
"""
