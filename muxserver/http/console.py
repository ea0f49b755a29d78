"""The operator's console: ``GET /_mux/`` (a page) and ``GET /_mux/console/data``.

The page is plain HTML, CSS and a little JavaScript served from this module:
no build step, no CDN, nothing fetched from outside. It polls the data call
every two seconds and draws its charts on ``<canvas>``; the log tail polls
``/_mux/tenants/<t>/logs`` every second for lines newer than the last shown.

Access is the admin API's: with ``--admin-token`` the page itself holds no
data and asks for the token, which its requests send as a bearer token;
without one, loopback clients only.

The console is served on the admin listener, an origin no tenant page
shares. The page runs no inline script: its script is ``/_mux/console.js``
and the Content-Security-Policy allows scripts from this origin only, so
tenant text the page shows can never run. Admin calls that come from a web
page (``Sec-Fetch-Site``/``Origin``) need the console's key, a secret the
server derives from its own; the key is only in the page itself, which is
served to top-level navigations only, cannot be framed, and severs its
opener. Command-line clients send no such headers and are unaffected.

The table, rates, latency, errors and charts merge every serving process
(the supervisor gathers them); a tenant whose recent requests mostly fail
(:data:`FAILING_SHARE` of at least :data:`FAILING_MIN` in the last minute)
is marked.
"""

from __future__ import annotations

import hmac
import json
import time

from muxserver.ops.history import percentile

#: A tenant is marked failing when this share of its recent requests were 5xx...
FAILING_SHARE = 0.5
#: ...and it had at least this many in the window.
FAILING_MIN = 5


def console_data(control) -> dict:
    """What the page shows, in one JSON object."""
    status = control.status()
    older, now = control.history.window(60.0)
    span = (now["t"] - older["t"]) if older else 0.0
    kills: dict[str, dict] = {}
    for row in status["limit_kills"]:
        kills.setdefault(row["tenant"], {})[row["kind"]] = row["count"]
    cold: dict[str, float] = {}
    for (tenant,), count in control.metrics.merged("mux_cold_starts").items():
        cold[tenant] = cold.get(tenant, 0) + count
    tenants = []
    for name, info in status["tenants"].items():
        total = now["requests"].get(name, 0)
        failed = now["errors"].get(name, 0)
        row = now["buckets"].get(name)
        recent = row
        rate = None
        recent_total, recent_failed = total, failed
        if older is not None and span > 0:
            before = older["requests"].get(name, 0)
            rate = round((total - before) / span, 2)
            recent_total = total - before
            recent_failed = failed - older["errors"].get(name, 0)
            old_row = older["buckets"].get(name)
            if row is not None and old_row is not None:
                recent = [a - b for a, b in zip(row, old_row)]
        window = recent if recent is not None and sum(recent[:-1]) > 0 else row
        tenants.append({
            "name": name,
            "version": (info["version"] or "")[:12],
            "deployed_at": info["deployed_at"],
            "deployed": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["deployed_at"])),
            "routes": info["routes"],
            "warm_modules": info["warm_modules"],
            "inflight": info["inflight"],
            "requests": int(total),
            "errors_5xx": int(failed),
            "recent_requests": int(recent_total),
            "recent_5xx": int(recent_failed),
            "failing": recent_total >= FAILING_MIN and recent_failed >= FAILING_SHARE * recent_total,
            "rps": rate,
            "p50_ms": percentile(window, 0.5) if window else None,
            "p99_ms": percentile(window, 0.99) if window else None,
            "cold_starts": int(cold.get(name, 0)),
            "limit_kills": kills.get(name, {}),
            "storage_bytes": info["storage_bytes"],
            "storage_limit_bytes": info["storage_limit_bytes"],
            "last_failed_deploy": info["last_failed_deploy"],
        })
    return {
        "server": {
            "pid": status["pid"],
            "processes": status["processes"],
            "uptime_s": status["uptime_s"],
            "rss_bytes": status["rss_bytes"],
            "warm_modules": len(status["warm_modules"]),
            "cold_starts": status["cold_starts"],
            "evictions": status["evictions"],
            "isolation": status["isolation"].get("mode"),
        },
        "tenants": tenants,
        "deploy_errors": status["deploy_errors"],
        "series": control.history.series(now),
        "now": time.time(),
    }


def data_response(control):
    body = json.dumps(console_data(control), default=str).encode()
    return 200, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body


def is_page_navigation(environ, name: str = "") -> bool:
    """A browser opening the page (or a client that is not a browser); the
    page's script, which holds nothing, to the page that loads it."""
    if name == "console.js":
        return environ.get("HTTP_SEC_FETCH_SITE", "same-origin") == "same-origin"
    mode = environ.get("HTTP_SEC_FETCH_MODE")
    return mode is None or mode == "navigate"


def from_a_web_page(environ) -> bool:
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site != "none"
    return bool(environ.get("HTTP_ORIGIN"))


def carries_key(environ, key: str) -> bool:
    return hmac.compare_digest(environ.get("HTTP_X_MUX_CONSOLE", ""), key)


#: No inline script, no script from anywhere but this listener.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
       "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_HEADERS = [("Cache-Control", "no-store"), ("Content-Security-Policy", CSP),
            ("X-Frame-Options", "DENY"), ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"), ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff")]


def page_response(key: str):
    return 200, [("Content-Type", "text/html; charset=utf-8"), *_HEADERS], \
        PAGE.replace("__CONSOLE_KEY__", key).encode()


def script_response():
    return 200, [("Content-Type", "text/javascript; charset=utf-8"), *_HEADERS], SCRIPT.encode()


PAGE = r"""<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="mux-console-key" content="__CONSOLE_KEY__">
<title>muxserver console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f5f6f8; }
  header { background: #1d232a; color: #fff; padding: 10px 18px; display: flex; gap: 24px; align-items: baseline; }
  header h1 { font-size: 17px; margin: 0; }
  header span { color: #b8c2cc; }
  main { padding: 14px 18px; }
  .cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin-bottom: 14px; }
  .card { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 8px 10px; }
  .card h2 { font-size: 12px; font-weight: 600; margin: 0 0 4px; color: #5a6672; text-transform: uppercase; }
  .card .value { font-size: 20px; font-weight: 600; }
  canvas { width: 100%; height: 70px; display: block; }
  table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #dde1e6; }
  th, td { padding: 5px 8px; border-bottom: 1px solid #eef0f2; text-align: left; white-space: nowrap; }
  th { background: #eef0f2; font-size: 12px; color: #5a6672; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr.tenant { cursor: pointer; }
  tr.tenant:hover, tr.selected { background: #e8f1fb; }
  .bad { color: #b3261e; }
  tr.failing { background: #fdecea; }
  #logs { background: #111820; color: #d7dde3; font: 12px/1.45 ui-monospace, monospace; height: 240px;
          overflow: auto; padding: 8px; border-radius: 6px; white-space: pre-wrap; margin-top: 8px; }
  #logs .error { color: #ff8a80; }
  #login { display: none; background: #fff; padding: 16px; border: 1px solid #dde1e6; border-radius: 6px; }
  #errors li { color: #b3261e; }
</style>
<header><h1>muxserver</h1><span id="server">connecting...</span></header>
<main>
  <form id="login"><p>This server needs its admin token.</p>
    <input id="token" type="password" size="40" autocomplete="off"> <button>Open the console</button></form>
  <section id="console">
    <div class="cards">
      <div class="card"><h2>Memory (RSS)</h2><div class="value" id="rss">-</div><canvas id="chart-rss"></canvas></div>
      <div class="card"><h2>Warm modules</h2><div class="value" id="warm">-</div><canvas id="chart-warm"></canvas></div>
      <div class="card"><h2>Requests / s</h2><div class="value" id="rps">-</div><canvas id="chart-rps"></canvas></div>
    </div>
    <table id="tenants">
      <thead><tr><th>tenant</th><th>version</th><th>deployed</th><th>routes</th><th>warm</th>
        <th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>requests</th><th>5xx (last min)</th><th>cold starts</th>
        <th>limit kills</th><th>storage</th><th>last failed deploy</th></tr></thead>
      <tbody></tbody>
    </table>
    <ul id="errors"></ul>
    <h3 id="logs-title">Log tail: click a tenant</h3>
    <div id="logs"></div>
  </section>
</main>
<script src="/_mux/console.js"></script>
</html>
"""

SCRIPT = r""""use strict";
// The token lives in this page only (not in storage another page of this
// origin could read); the key proves calls come from this page.
let token = "";
const consoleKey = document.querySelector('meta[name="mux-console-key"]').content;
let selected = null, lastLog = 0, seenLogs = new Set();

function headers() {
  const h = {"X-Mux-Console": consoleKey};
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}
function text(value) { return value === null || value === undefined ? "-" : String(value); }
function mb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }
function cell(row, value, cls) {
  const td = document.createElement("td");
  td.textContent = text(value);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function drawChart(id, points, color) {
  const canvas = document.getElementById(id);
  const w = canvas.width = canvas.clientWidth * devicePixelRatio;
  const h = canvas.height = canvas.clientHeight * devicePixelRatio;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const values = points.filter(v => v !== null && v !== undefined);
  canvas.dataset.points = values.length;
  if (values.length < 1) return;
  if (values.length === 1) {
    ctx.fillStyle = color; ctx.beginPath();
    ctx.arc(w / 2, h / 2, 3 * devicePixelRatio, 0, 2 * Math.PI); ctx.fill();
    canvas.dataset.drawn = "yes";
    return;
  }
  const max = Math.max(...values, 1e-9), min = Math.min(...values, 0);
  ctx.strokeStyle = color; ctx.lineWidth = 2 * devicePixelRatio; ctx.beginPath();
  values.forEach((v, i) => {
    const x = values.length === 1 ? w / 2 : i * (w - 4) / (values.length - 1) + 2;
    const y = h - 3 - (v - min) / (max - min || 1) * (h - 6);
    i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  });
  ctx.stroke();
  canvas.dataset.drawn = "yes";
}

function render(data) {
  const s = data.server;
  document.getElementById("server").textContent =
    `pid ${s.pid} · ${s.processes.length} serving processes · up ${Math.round(s.uptime_s)} s · isolation ${s.isolation} · ` +
    `${s.cold_starts} cold starts · ${s.evictions} evictions`;
  document.getElementById("rss").textContent = mb(s.rss_bytes);
  document.getElementById("warm").textContent = s.warm_modules;
  const series = data.series;
  const lastRps = series.length ? series[series.length - 1].rps : null;
  document.getElementById("rps").textContent = text(lastRps);
  drawChart("chart-rss", series.map(p => p.rss_mb).concat([s.rss_bytes / 1048576]), "#2f6fb3");
  drawChart("chart-warm", series.map(p => p.warm).concat([s.warm_modules]), "#2e7d32");
  drawChart("chart-rps", series.map(p => p.rps), "#b26a00");
  const body = document.querySelector("#tenants tbody");
  body.textContent = "";
  for (const t of data.tenants) {
    const row = document.createElement("tr");
    row.className = "tenant" + (t.name === selected ? " selected" : "");
    row.dataset.tenant = t.name;
    cell(row, t.name); cell(row, t.version); cell(row, t.deployed);
    cell(row, t.routes, "num"); cell(row, t.warm_modules, "num"); cell(row, t.rps, "num");
    cell(row, t.p50_ms, "num"); cell(row, t.p99_ms, "num"); cell(row, t.requests, "num");
    const share = t.recent_requests ? Math.round(100 * t.recent_5xx / t.recent_requests) : 0;
    cell(row, `${t.recent_5xx} (${share} %)`, t.failing ? "bad failing" : "num");
    if (t.failing) row.classList.add("failing");
    cell(row, t.cold_starts, "num");
    const kills = Object.entries(t.limit_kills).map(([k, n]) => `${k} ${n}`).join(", ");
    cell(row, kills || "-", kills ? "bad" : "");
    cell(row, `${mb(t.storage_bytes)} / ${mb(t.storage_limit_bytes)}`);
    const failed = t.last_failed_deploy;
    cell(row, failed ? failed.errors[0] : "-", failed ? "bad" : "");
    row.addEventListener("click", () => selectTenant(t.name));
    body.appendChild(row);
  }
  const errors = document.getElementById("errors");
  errors.textContent = "";
  for (const [tenant, info] of Object.entries(data.deploy_errors)) {
    for (const line of info.errors) {
      const li = document.createElement("li"); li.textContent = line; errors.appendChild(li);
    }
  }
}

async function refresh() {
  try {
    const response = await fetch("/_mux/console/data", {headers: headers(), cache: "no-store"});
    if (response.status === 401 || response.status === 403) { askToken(); return; }
    render(await response.json());
    document.body.dataset.loaded = "yes";
  } catch (e) {
    document.getElementById("server").textContent = "cannot reach the server: " + e;
  }
}

function selectTenant(name) {
  selected = name; lastLog = 0; seenLogs = new Set();
  document.getElementById("logs").textContent = "";
  document.getElementById("logs-title").textContent = "Log tail: " + name;
  document.querySelectorAll("tr.tenant").forEach(r => r.classList.toggle("selected", r.dataset.tenant === name));
  tail();
}

async function tail() {
  if (!selected) return;
  const response = await fetch(`/_mux/tenants/${encodeURIComponent(selected)}/logs?json=1&limit=200`,
                               {headers: {...headers(), "Accept": "application/json"}, cache: "no-store"});
  if (!response.ok) return;
  const data = await response.json();
  const box = document.getElementById("logs");
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  for (const entry of data.lines) {
    const key = entry.time + "|" + entry.request_id + "|" + entry.line;
    if (entry.time < lastLog || seenLogs.has(key)) continue;
    seenLogs.add(key); lastLog = entry.time;
    const line = document.createElement("div");
    line.className = "line " + entry.level;
    line.textContent = `${new Date(entry.time * 1000).toISOString().slice(11, 19)} ${entry.level} ` +
                       `${entry.request_id || "-"} ${entry.line}`;
    box.appendChild(line);
  }
  if (atEnd) box.scrollTop = box.scrollHeight;
}

function askToken() {
  document.getElementById("console").style.display = "none";
  document.getElementById("login").style.display = "block";
}
document.getElementById("login").addEventListener("submit", event => {
  event.preventDefault();
  token = document.getElementById("token").value;
  document.getElementById("login").style.display = "none";
  document.getElementById("console").style.display = "block";
  refresh();
});

refresh();
setInterval(refresh, 2000);
setInterval(tail, 1000);
"""
