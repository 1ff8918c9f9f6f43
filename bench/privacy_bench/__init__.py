"""The parts of bench/privacy.py (the sensitive-data detection benchmark, issue 5).

common     constants shared by the parts (types, targets, locales, ports, paths)
dataset    the synthetic labelled set (templates + Faker) and the ~1 KB texts built from it
detectors  the detectors compared, scoring, detection latency, the gateway's privacy step in-process
gateway_run  the bench lock, the quiet-machine wait, two real gateways (detection off / on), environment
report     privacy.md and the stdout summary

Run the benchmark with `python bench/privacy.py [--quick]`; these modules are not entry points.
"""
