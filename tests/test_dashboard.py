"""/dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright through
`executable_path`; no browser is downloaded): it loads with no console errors, and its plots are
drawn from a ledger that real requests through a real gateway filled. A full-page screenshot
is saved to $RIGHTMODEL_TEST_ARTIFACTS (default: test-artifacts/) as dashboard.png. The savings
read off the page, in the default 24 h window and the whole ledger's, are those `rightmodel report`
prints for the same ledger.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest

from gateway_proc import create_keys, running_gateway
from rightmodel.auth import KeySpec
from upstream_server import running_upstream

ARTIFACTS = Path(os.environ.get("RIGHTMODEL_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PLOTS = ("plot-cost", "plot-routes", "plot-latency", "plot-escalation", "plot-accuracy")
TEXTS = [
    ("My new card still hasn't arrived, when will it come?", "card_arrival"),
    ("What exchange rate do you use for euros to dollars?", "exchange_rate"),
    ("Someone stole my wallet with my card in it", "lost_or_stolen_card"),
    ("My top-up was declined, why did it fail?", "top_up_failed"),
]


def chromium_path() -> str:
    path = os.environ.get("RIGHTMODEL_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("Debian's chromium is needed for the dashboard test: apt-get install chromium (.ci/run does), "
                    "or point RIGHTMODEL_CHROMIUM at a Chromium binary")
    return path


@pytest.fixture(scope="module")
def stack(built, tmp_path_factory):
    home = tmp_path_factory.mktemp("gw-dashboard")
    keys_url = f"sqlite:///{home / 'keys.db'}"
    tenant, admin = create_keys(keys_url, KeySpec(tenant="acme"), KeySpec(tenant="ops", admin=True))
    with running_upstream(reply="Card arrival.") as up:
        remote = {"kind": "openai", "base_url": up.openai_base, "model": "up-frontier", "api_key_env": "DASH_TEST_KEY",
                  "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}, "timeout_s": 10}
        config = {
            "models": {"intent-v": {"kind": "specialist", "task": "intent", "version": built["version"].version}, "frontier": remote},
            "tasks": {
                "intent": {"specialist": "intent-v", "escalate_to": "frontier", "threshold": 0.0},
                "intent-esc": {"specialist": "intent-v", "escalate_to": "frontier", "threshold": 1.000001},
            },
            "defaults": {"generalist": "frontier", "frontier": "frontier", "retries": 0, "local_fixed_cost_per_month": 5.0},
            "auth": {"mode": "required"},
        }
        args = ("--home", str(built["home"]), "--journal-dir", str(home / "journal"), "--ledger-url", f"sqlite:///{home / 'ledger.db'}")
        with running_gateway(config, home, extra_args=args, env={"DASH_TEST_KEY": "sk-up", "RIGHTMODEL_KEYS_URL": keys_url}) as gw:
            client = openai.OpenAI(base_url=gw.v1, api_key=tenant, max_retries=0)
            sent = 0
            for round_ in range(3):
                for text, truth in TEXTS:
                    raw = client.chat.completions.with_raw_response.create(model="intent", messages=[{"role": "user", "content": text}])
                    answer = raw.parse().choices[0].message.content
                    feedback = {"request_id": raw.headers["x-request-id"], "label": truth}
                    assert httpx.post(f"{gw.v1}/feedback", json=feedback, headers={"Authorization": f"Bearer {tenant}"}, timeout=30).status_code == 200
                    sent += 1
                    assert answer
                time.sleep(0.4)  # spread over a few seconds: several time buckets
            for text, truth in TEXTS[:3]:
                raw = client.chat.completions.with_raw_response.create(model="intent-esc", messages=[{"role": "user", "content": text}])
                httpx.post(f"{gw.v1}/feedback", json={"request_id": raw.headers["x-request-id"], "label": truth},
                           headers={"Authorization": f"Bearer {tenant}"}, timeout=30)
                sent += 1
            for text, _ in TEXTS[:2]:
                client.chat.completions.create(model="frontier", messages=[{"role": "user", "content": text}])
                sent += 1
            refused = httpx.post(f"{gw.v1}/chat/completions", json={"model": "intent"}, headers={"Authorization": f"Bearer {tenant}"}, timeout=30)
            assert refused.status_code == 400
            sent += 1
            rows = gw.ledger_rows(expect=sent)
            assert len(rows) == sent
            yield {"gw": gw, "admin": admin, "rows": rows}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser, url: str, admin_key: str | None):
    """A page with every console message, page error and failed request collected."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    if admin_key is not None:
        context.add_init_script(f"sessionStorage.setItem('rightmodel-admin-key', {admin_key!r});")
    page = context.new_page()
    seen = {"console": [], "pageerror": [], "failed": [], "offsite": []}
    page.on("console", lambda m: seen["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: seen["pageerror"].append(str(e)))
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.on("request", lambda r: None if r.url.startswith(url.split("/dashboard")[0]) or r.url.startswith("data:") else seen["offsite"].append(r.url))
    page.goto(url)
    return context, page, seen


def wait_loaded(page) -> None:
    page.wait_for_selector("body[data-loaded]", timeout=30_000)


def report_of(gw) -> tuple[dict, str]:
    """`rightmodel report` on the gateway's own ledger and constellation, as a real process: its
    JSON total and its table's total line."""
    [config] = gw.home.glob("constellation-*.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("RIGHTMODEL_LEDGER_URL", "RIGHTMODEL_HOME")}
    args = [sys.executable, "-m", "rightmodel.cli", "report", "--ledger-url", f"sqlite:///{gw.home / 'ledger.db'}", "--config", str(config)]
    done = subprocess.run([*args, "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    table = subprocess.run(args, capture_output=True, text=True, env={**env, "COLUMNS": "240"}, timeout=120)
    assert table.returncode == 0, table.stderr
    total_line = next(line for line in table.stdout.splitlines() if line.strip().startswith("total"))
    return json.loads(done.stdout)["total"], total_line


def assert_savings_as_reported(page, gw) -> None:
    """The "saved" figure read off the page is the report's, in dollars and as a percentage
    (issue 21: the dashboard said "SAVED $-1.62, -7332%" where the report said +82%)."""
    from rightmodel.report.render import pct, usd

    total, total_line = report_of(gw)
    assert total["fixed_cost_usd"] > 0  # the case that diverged: a fixed monthly cost over a short run
    saved = page.locator('.kpi[data-kpi="saved"] .value').inner_text()
    share = page.locator('.kpi[data-kpi="saved"] .sub').inner_text()
    assert saved == usd(total["savings_usd"]) and share == f"{pct(total['savings_rate'])} of all-frontier", (saved, share, total)
    assert saved in total_line.split() and pct(total["savings_rate"]) in total_line.split(), (saved, total_line)
    actual = page.locator('.kpi[data-kpi="actual-cost"] .value').inner_text()
    assert actual == usd(total["actual_cost_usd"])


def test_dashboard_renders_every_plot_from_the_ledger_with_no_console_errors(stack, browser):
    gw = stack["gw"]
    context, page, seen = open_page(browser, f"{gw.url}/dashboard#since=all", stack["admin"])
    try:
        wait_loaded(page)
        for plot in PLOTS:  # Plotly drew an SVG with at least one trace in every panel
            assert page.locator(f"#{plot} .main-svg").count() >= 1, plot
            assert page.evaluate(f"document.getElementById('{plot}').data.length") >= 1, plot
        rows = stack["rows"]
        # The route mix plot holds exactly the ledger's requests per route.
        plotted = dict(page.evaluate("document.getElementById('plot-routes').data.map(t => [t.name, t.y.reduce((a, b) => a + b, 0)])"))
        by_route = Counter(r["route"] for r in rows)
        assert plotted["specialist (local)"] == by_route["specialist"] == 12
        assert plotted["escalated to frontier"] == by_route["escalated"] == 3
        assert plotted["remote (passthrough)"] == by_route["remote"] == 2 and plotted["refused"] == by_route["rejected"] == 1
        assert page.locator(".kpi .value").first.inner_text() == str(len(rows))
        assert_savings_as_reported(page, gw)
        # Cost over time: cumulative actual below cumulative all-frontier, ending at the ledger's sums.
        cost = page.evaluate("document.getElementById('plot-cost').data.map(t => t.y[t.y.length - 1])")
        assert cost[0] == pytest.approx(sum(r["counterfactual_cost_usd"] or 0 for r in rows), rel=1e-6)
        assert cost[1] >= sum(r["cost_usd"] or 0 for r in rows)  # plus the fixed monthly cost's share
        tasks = page.evaluate("document.getElementById('plot-escalation').data[0].y")
        assert set(tasks) == {"intent", "intent-esc"}
        accuracy = page.evaluate("document.getElementById('plot-accuracy').data.map(t => t.name)")
        assert "answers it served" in accuracy
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        assert (ARTIFACTS / "dashboard.png").stat().st_size > 20_000
    finally:
        context.close()
    errors = [text for kind, text in seen["console"] if kind in ("error", "warning")]
    assert errors == [] and seen["pageerror"] == [] and seen["failed"] == [], seen
    assert seen["offsite"] == []  # every asset from the gateway: no CDN


def test_the_dashboard_asks_for_an_admin_key_and_switches_windows(stack, browser):
    gw = stack["gw"]
    context, page, seen = open_page(browser, f"{gw.url}/dashboard", None)
    try:
        page.wait_for_selector("#keyform:not([hidden])", timeout=30_000)
        page.fill("#key", stack["admin"])
        page.click("#keyform button[type=submit]")
        wait_loaded(page)
        assert page.locator("#keyform").is_hidden()
        assert_savings_as_reported(page, gw)  # the default window (24 h): the same savings as the report's
        first = page.get_attribute("body", "data-loaded")
        page.click("#ranges button[data-since='1h']")
        page.wait_for_function("first => document.body.dataset.loaded !== first", arg=first, timeout=30_000)
        assert page.url.endswith("#since=1h") and "since" in page.inner_text("#status")
    finally:
        context.close()
    # The only error: the browser's own line for the first, keyless data request (401).
    errors = [text for kind, text in seen["console"] if kind == "error"]
    assert all("401" in e for e in errors) and len(errors) <= 1, errors
    assert seen["pageerror"] == []


def test_assets_are_served_compressed_and_unknown_ones_are_404(stack):
    url = stack["gw"].url
    plotly = httpx.get(f"{url}/dashboard/assets/plotly.min.js", headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert plotly.status_code == 200 and plotly.headers["content-encoding"] == "gzip" and len(plotly.content) > 1_000_000
    missing = httpx.get(f"{url}/dashboard/assets/../../etc/passwd", timeout=10)
    assert missing.status_code == 404
    assert httpx.get(f"{url}/dashboard/assets/nope.js", timeout=10).json()["error"]["code"] == "not_found"
