// rightmodel dashboard: fetches /dashboard/data for the chosen window and draws it with Plotly.
// Everything is served by the gateway itself; the admin key (when one is needed) stays in this
// tab's sessionStorage and is sent as a bearer token to /dashboard/data only.
"use strict";

const ROUTE_COLORS = {
  specialist: "#12b76a", escalated: "#f79009", remote: "#2e90fa",
  escalation_unavailable: "#98a2b3", embeddings: "#7a5af8", rejected: "#d92d20",
};
const ROUTE_NAMES = {
  specialist: "specialist (local)", escalated: "escalated to frontier", remote: "remote (passthrough)",
  escalation_unavailable: "not confident, nowhere to escalate", embeddings: "embeddings", rejected: "refused",
};
const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
const BASE_LAYOUT = {
  margin: { l: 56, r: 16, t: 8, b: 40 },
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 12, color: "#1d2330" },
  legend: { orientation: "h", y: -0.18 }, hovermode: "x unified",
};

const state = { since: "24h", timer: null };

function $(id) { return document.getElementById(id); }

// Dollars and rates exactly as `rightmodel report` prints them (report/render.py `usd`, `pct`):
// never exponent notation; cents, and below a dollar up to three significant digits with
// trailing zeros dropped past the cents ($0.000111, $0.04).
function fmtUsd(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "$0";
  const a = Math.abs(v);
  const decimals = a >= 1 ? 2 : Math.min(12, Math.max(2, 2 - Math.floor(Math.log10(a))));
  const text = a.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: decimals, useGrouping: true });
  return (v < 0 ? "-$" : "$") + text;
}
function fmtPct(v, digits = 1) { return v === null || v === undefined ? "–" : (100 * v).toFixed(digits) + "%"; }
function fmtMs(v) { return v === null || v === undefined ? "–" : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " ms"; }
function fmtInt(v) { return (v || 0).toLocaleString("en-US"); }

function layout(extra) {
  const out = Object.assign({}, BASE_LAYOUT, extra || {});
  for (const axis of ["xaxis", "yaxis"]) out[axis] = Object.assign({ automargin: true }, out[axis] || {});
  return out;
}

function wilson(k, n) {  // 95% Wilson score interval of k successes in n trials
  if (!n) return [null, null];
  const z = 1.959964, p = k / n, d = 1 + z * z / n;
  const c = (p + z * z / (2 * n)) / d, h = (z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

function empty(id, text) {
  const el = $(id);
  Plotly.purge(el);
  el.innerHTML = "";
  const div = document.createElement("div");
  div.className = "empty";
  div.textContent = text;
  el.appendChild(div);
}

function draw(id, traces, lay) {
  const el = $(id);
  if (el.querySelector(".empty")) el.innerHTML = "";
  return Plotly.react(el, traces, layout(lay), PLOT_CONFIG);
}

function kpi(label, value, sub, tone) {
  const box = document.createElement("div");
  box.className = "kpi" + (tone ? " " + tone : "");
  box.dataset.kpi = label.replace(/[^a-z0-9]+/gi, "-");  // tests read a figure off the page by it
  for (const [cls, text] of [["label", label], ["value", value], ["sub", sub || ""]]) {
    const el = document.createElement("div");
    el.className = cls;
    el.textContent = text;
    box.appendChild(el);
  }
  return box;
}

function renderKpis(d) {
  const t = d.total, box = $("kpis");
  // Every figure as the report computed it (report/aggregate.py `metrics`): nothing is derived here.
  const saved = t.savings_usd, cf = t.counterfactual_cost_usd, actual = t.actual_cost_usd;
  box.replaceChildren(
    kpi("requests", fmtInt(t.requests), `${fmtInt(t.answered)} answered · ${fmtPct(t.error_rate)} errors`),
    kpi("served locally", fmtPct(t.local_share), `${fmtInt(t.served_locally)} by specialists`, "good"),
    kpi("saved", fmtUsd(saved), t.savings_rate === null ? "no frontier cost to compare" : `${fmtPct(t.savings_rate)} of all-frontier`, saved >= 0 ? "good" : "bad"),
    kpi("actual cost", fmtUsd(actual), `all-frontier would be ${fmtUsd(cf)}` + (t.fixed_cost_usd ? ` · fixed ${fmtUsd(t.fixed_cost_usd)}` : "")),
    kpi("latency p50 / p95", fmtMs(t.latency_p50_ms), `p95 ${fmtMs(t.latency_p95_ms)} · p99 ${fmtMs(t.latency_p99_ms)}`),
    kpi("escalation rate", fmtPct(t.escalation_rate), `${fmtInt(t.escalated)} of ${fmtInt(t.task_requests)} task requests`),
    kpi("accuracy", t.accuracy === null ? "n/a" : fmtPct(t.accuracy), t.feedback ? `from ${fmtInt(t.feedback)} feedback verdicts` : "no feedback recorded"),
  );
}

function renderDrift(d) {
  const box = $("drift");
  if (!d.drift.length) { box.hidden = true; box.replaceChildren(); return; }
  const title = document.createElement("strong");
  title.textContent = `Drift: ${d.drift.length} specialist metric${d.drift.length > 1 ? "s" : ""} outside the configured band`;
  const list = document.createElement("ul");
  for (const f of d.drift) {
    const li = document.createElement("li");
    li.textContent = f.message;
    list.appendChild(li);
  }
  box.replaceChildren(title, list);
  box.hidden = false;
}

function renderCost(d) {
  if (!d.series.length) return empty("plot-cost", "no requests in this window");
  const x = d.series.map(p => p.t);
  let a = 0, f = 0;
  const actual = d.series.map(p => (a += p.actual_cost_usd));
  const frontier = d.series.map(p => (f += p.counterfactual_cost_usd));
  return draw("plot-cost", [
    { x, y: frontier, name: "all-frontier (counterfactual)", type: "scatter", mode: "lines", line: { color: "#f04438", width: 2 } },
    { x, y: actual, name: "actual (specialists + escalations" + (d.fixed_cost_per_month ? " + fixed" : "") + ")", type: "scatter", mode: "lines",
      line: { color: "#12b76a", width: 3 }, fill: "tonexty", fillcolor: "rgba(18,183,106,0.12)" },
  ], { yaxis: { title: { text: "cumulative USD" }, rangemode: "tozero", tickprefix: "$" } });
}

function renderRoutes(d) {
  if (!d.series.length) return empty("plot-routes", "no requests in this window");
  const x = d.series.map(p => p.t);
  const order = ["specialist", "escalated", "remote", "escalation_unavailable", "embeddings", "rejected"];
  const names = Object.keys(d.routes).sort((p, q) => (order.indexOf(p) + 99 * (order.indexOf(p) < 0)) - (order.indexOf(q) + 99 * (order.indexOf(q) < 0)));
  const traces = names.map(r => ({ x, y: d.routes[r], name: ROUTE_NAMES[r] || r, type: "bar", marker: { color: ROUTE_COLORS[r] || "#475467" } }));
  return draw("plot-routes", traces, { barmode: "stack", bargap: 0.1, yaxis: { title: { text: `requests per ${bucketName(d.bucket_s)}` } } });
}

function renderLatency(d) {
  const pts = d.series.filter(p => p.latency_p50_ms !== null);
  if (!pts.length) return empty("plot-latency", "no answered requests in this window");
  const x = pts.map(p => p.t), mode = pts.length > 1 ? "lines+markers" : "markers";
  const line = (key, name, color, dash) => ({ x, y: pts.map(p => p[key]), name, type: "scatter", mode, line: { color, dash }, marker: { size: 5 } });
  return draw("plot-latency", [
    line("latency_p50_ms", "p50", "#2e90fa"), line("latency_p95_ms", "p95", "#f79009"), line("latency_p99_ms", "p99", "#d92d20", "dot"),
  ], { yaxis: { title: { text: "ms (log scale)" }, type: "log" } });
}

function renderEscalation(d) {
  const tasks = d.tasks.filter(g => g.group !== null && g.task_requests > 0);
  if (!tasks.length) return empty("plot-escalation", "no task requests in this window");
  tasks.sort((p, q) => (p.escalation_rate || 0) - (q.escalation_rate || 0));
  return draw("plot-escalation", [{
    type: "bar", orientation: "h", y: tasks.map(g => g.group), x: tasks.map(g => g.escalation_rate || 0),
    text: tasks.map(g => `${fmtPct(g.escalation_rate)} of ${fmtInt(g.task_requests)}`), textposition: "outside", cliponaxis: false,
    marker: { color: "#f79009" }, hovertemplate: "%{y}: %{x:.1%}<extra></extra>", name: "escalation rate",
  }], { xaxis: { tickformat: ".0%", range: [0, 1.18], tickvals: [0, 0.25, 0.5, 0.75, 1] }, margin: { l: 120, r: 16, t: 8, b: 40 }, showlegend: false, hovermode: "closest" });
}

function renderAccuracy(d) {
  const vs = d.versions.filter(v => v.feedback > 0 || v.accepted_feedback > 0);
  if (!vs.length) return empty("plot-accuracy", "no feedback yet: POST /v1/feedback with a request id and the correct label");
  // A version may serve several tasks (each with its own threshold): one group per pair.
  const x = vs.map(v => (v.task && !String(v.specialist).startsWith(v.task + "@")) ? `${v.specialist} (${v.task})` : v.specialist);
  const series = [
    ["accepted_accuracy", "accepted_feedback", "answers it served", "#12b76a"],
    ["accuracy", "feedback", "all its labels (escalated too)", "#2e90fa"],
    ["escalated_accuracy", "escalated_feedback", "its guesses when it escalated", "#f79009"],
  ];
  const traces = series.map(([key, nkey, name, color]) => {
    const ci = vs.map(v => wilson(Math.round((v[key] || 0) * v[nkey]), v[nkey]));
    return {
      type: "bar", name, x, y: vs.map(v => v[key]), marker: { color },
      error_y: { type: "data", symmetric: false, array: vs.map((v, i) => v[key] === null ? 0 : ci[i][1] - v[key]),
                 arrayminus: vs.map((v, i) => v[key] === null ? 0 : v[key] - ci[i][0]), color: "#475467", thickness: 1 },
      customdata: vs.map(v => v[nkey]), hovertemplate: "%{x}: %{y:.1%} (n=%{customdata})<extra>" + name + "</extra>",
    };
  });
  return draw("plot-accuracy", traces, { barmode: "group", bargap: 0.35, yaxis: { tickformat: ".0%", range: [0, 1.05] }, hovermode: "closest" });
}

function bucketName(s) {
  if (s % 86400 === 0) return s === 86400 ? "day" : `${s / 86400} days`;
  if (s % 3600 === 0) return s === 3600 ? "hour" : `${s / 3600} h`;
  if (s % 60 === 0) return s === 60 ? "minute" : `${s / 60} min`;
  return s === 1 ? "second" : `${s} s`;
}

async function load() {
  const status = $("status");
  const headers = {};
  const key = sessionStorage.getItem("rightmodel-admin-key");
  if (key) headers.Authorization = "Bearer " + key;
  let resp;
  try {
    resp = await fetch("/dashboard/data?since=" + encodeURIComponent(state.since), { headers, cache: "no-store" });
  } catch (err) {
    status.textContent = "the gateway does not answer: " + err.message;
    status.className = "error";
    return;
  }
  if (resp.status === 401 || resp.status === 403) {
    const body = await resp.json().catch(() => ({}));
    $("keymsg").textContent = (body.error && body.error.message) || "This dashboard needs an admin API key.";
    $("keyform").hidden = false;
    status.textContent = "";
    return;
  }
  if (!resp.ok) {
    const body = await resp.json().catch(() => ({}));
    status.textContent = (body.error && body.error.message) || `the gateway answered ${resp.status}`;
    status.className = "error";
    return;
  }
  const d = await resp.json();
  $("keyform").hidden = true;
  renderKpis(d);
  renderDrift(d);
  await Promise.all([renderCost(d), renderRoutes(d), renderLatency(d), renderEscalation(d), renderAccuracy(d)]);
  const span = d.since ? `since ${d.since.replace("T", " ").replace("Z", " UTC")}` : "the whole ledger";
  status.className = "";
  status.textContent = `${span} · buckets of one ${bucketName(d.bucket_s)} · updated ${new Date().toLocaleTimeString()}`;
  $("footer").textContent = `ledger ${d.ledger}` + (d.ledger_pending ? ` · ${d.ledger_pending} rows still on their way to the database` : "");
  document.body.dataset.loaded = String(Date.now());  // tests wait on this
}

function choose(since) {
  state.since = since;
  for (const b of document.querySelectorAll("#ranges button")) b.classList.toggle("on", b.dataset.since === since);
  history.replaceState(null, "", "#since=" + since);
  load();
}

function schedule() {
  clearInterval(state.timer);
  if ($("auto").checked) state.timer = setInterval(load, 30000);
}

window.addEventListener("DOMContentLoaded", () => {
  const m = /since=([\w]+)/.exec(location.hash);
  for (const b of document.querySelectorAll("#ranges button")) b.addEventListener("click", () => choose(b.dataset.since));
  $("auto").addEventListener("change", schedule);
  $("keyform").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem("rightmodel-admin-key", $("key").value.trim());
    $("key").value = "";
    load();
  });
  schedule();
  choose(m ? m[1] : "24h");
});
