// The /ops dashboard: one EventSource on /v1/ops/stream, everything drawn as DOM and SVG.
// No libraries, no build step: the hexagons are h3 boundaries sent by the API, projected here.
"use strict";

const HISTORY = 120; // points kept for each sparkline (one per poll)
const series = {};
const LAYERS = {
  leads: { label: "lead density", fmt: (v) => v.toLocaleString(), scale: "log" },
  mean_score: { label: "mean score", fmt: (v) => v.toFixed(3) },
  fraud_share: { label: "fraud / quarantine", fmt: (v) => (100 * v).toFixed(1) + "%" },
  median_price: { label: "median price", fmt: (v) => "$" + Math.round(v).toLocaleString(), scale: "log" },
  buyers: { label: "active buyers", fmt: (v) => v.toLocaleString() },
  offices: { label: "competitor offices", fmt: (v) => v.toLocaleString() },
};
const PALETTE = ["#3b528b", "#2c728e", "#21918c", "#3bbb75", "#a5db36", "#fde725", "#f89540"];
let layer = "leads";
let mapData = null;

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const num = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));

function push(name, value) {
  const s = (series[name] = series[name] || []);
  s.push(Number(value) || 0);
  if (s.length > HISTORY) s.shift();
  const svg = $("sp-" + name);
  if (!svg) return;
  const w = svg.clientWidth || 160, h = svg.clientHeight || 34;
  const max = Math.max(...s, 1e-9);
  const pts = s.map((v, i) => `${(i / Math.max(HISTORY - 1, 1)) * w},${h - 2 - (v / max) * (h - 4)}`);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.innerHTML = `<polyline points="${pts.join(" ")}"></polyline>`;
}

function rows(tableId, list, cells) {
  $(tableId).querySelector("tbody").innerHTML = list.map((r) => "<tr>" + cells(r).map((c) => `<td>${c}</td>`).join("") + "</tr>").join("");
}

function kv(id, pairs) {
  $(id).innerHTML = pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("");
}

function overview(o) {
  const s = o.summary || {};
  const tp = s.throughput || {};
  for (const k of ["in", "scored", "landed", "served", "dlq"]) {
    $("tp-" + k).textContent = num(tp[k]);
    push(k, tp[k]);
  }
  const groups = (o.lag && o.lag.groups) || [];
  const worst = groups.reduce((a, g) => (["OK", "WARN", "ERR"].indexOf(g.status) > ["OK", "WARN", "ERR"].indexOf(a) ? g.status : a), "OK");
  const maxSeconds = Math.max(0, ...groups.map((g) => g.lag_seconds));
  $("lag-seconds").textContent = num(maxSeconds);
  push("lag", maxSeconds);
  const gs = $("group-status");
  gs.textContent = groups.length ? worst : "no groups";
  gs.className = "pill " + (groups.length ? worst : "");
  const body = $("lag").querySelector("tbody");
  body.innerHTML = groups.map((g) => {
    // Partitions a member holds but never commits (Faust's changelogs) have no lag to show.
    const parts = g.partitions.filter((p) => p.committed !== null)
      .sort((a, b) => b.lag_seconds - a.lag_seconds || b.lag - a.lag);
    const prefix = g.group.slice(0, g.group.length - g.group.replace(/^.*?\./, "").length);
    return `<tr class="group"><td colspan="7">${esc(g.group)} · ${esc(g.state)} · ${g.members} members · lag ${g.lag} · ${num(g.lag_seconds)} s <b class="${g.status}">${g.status}</b></td></tr>` +
      parts.map((p) => "<tr>" + [esc(p.topic.startsWith(prefix) ? p.topic.slice(prefix.length) : p.topic), p.partition,
        p.committed ?? "–", p.end_offset, p.lag, num(p.lag_seconds), `<b class="${p.status}">${p.status}</b>`]
        .map((c) => `<td>${c}</td>`).join("") + "</tr>").join("");
  }).join("");

  const health = { ...(o.health || {}), worker: o.worker || { ok: false } };
  $("health").innerHTML = Object.entries(health).map(([name, c]) =>
    `<span title="${esc(c.reason || "ok")}"><i class="${c.ok ? "up" : "down"}"></i>${esc(name)}</span>`).join("");

  rows("latency", Object.entries(s.latency || {}), ([stage, q]) => [esc(stage), num(q.p50, 2), num(q.p95, 2), num(q.p99, 2)]);
  // An arm that has learned nothing yet has no meaningful metrics.
  rows("models", s.models || [], (m) => m.labels ? [esc(m.arm), num(m.roc_auc, 3), num(m.log_loss, 3), num(m.calibration_error, 3), m.labels]
    : [esc(m.arm), "–", "–", "–", "no labels yet"]);
  rows("dlq", s.dlq || [], (d) => [`<a href="/v1/ops/dlq?reason=${encodeURIComponent(d.reason)}" target="_blank">${esc(d.reason)}</a>`, d.total, num(d.rate, 2)]);
  rows("sinks", Object.entries(s.sinks || {}), ([sink, v]) => [esc(sink), num(v.rows_per_s), num(v.rows_per_batch), num(v.flush_ms, 1)]);
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
  kv("rates", [["quarantined (fraud)", pct(s.fraud_rate)], ["duplicates", pct(s.duplicate_rate)]]);
  const m = s.market || {}, cache = s.cache || {};
  kv("market", [["recommendation cache hit rate", pct(cache.hit_rate)], ["holds", m.holds ?? "–"],
    ["checkouts", m.checkouts ?? "–"], ["checkout errors", m.checkout_errors ?? "–"],
    ["Stripe errors", m.stripe_errors ?? "–"], ["feed clients", m.feed_clients ?? "–"]]);
  kv("processes", Object.entries(s.processes || {}).flatMap(([p, v]) =>
    [[p + " CPU", (100 * v.cpu).toFixed(0) + "%"], [p + " memory", v.rss_mb + " MB"]]));
  const updated = $("updated");
  updated.textContent = new Date().toLocaleTimeString();
  updated.dataset.version = o.version;
  if (o.map && o.map.error) $("map-note").textContent = o.map.error;
}

// --- the map --------------------------------------------------------------------------

function project(lat, lng) { // Web Mercator, in unscaled units
  const y = Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
  return [(lng * Math.PI) / 180, -y];
}

function colour(t) {
  const i = Math.min(PALETTE.length - 1, Math.max(0, Math.floor(t * PALETTE.length)));
  return PALETTE[i];
}

function drawMap() {
  const svg = $("map");
  if (!mapData) return;
  const cells = mapData.cells || [];
  $("map-note").textContent = mapData.error || `${cells.length} cells at H3 resolution ${mapData.resolution}`;
  if (!cells.length) { svg.innerHTML = ""; return; }
  const projected = cells.map((c) => c.boundary.map(([lat, lng]) => project(lat, lng)));
  const spec = LAYERS[layer];
  const hasValue = (c) => c[layer] !== null && c[layer] !== undefined && c[layer] > 0;
  // Frame the cells that carry this layer, trimmed of the farthest 1% (Alaska, Hawaii and
  // the odd stray lead would otherwise shrink the mainland to a smudge).
  const framed = projected.filter((_, i) => hasValue(cells[i]));
  const centres = (framed.length ? framed : projected).map((poly) => poly[0]);
  const pick = (arr, q) => arr[Math.min(arr.length - 1, Math.floor(q * arr.length))];
  const cx = centres.map((p) => p[0]).sort((a, b) => a - b), cy = centres.map((p) => p[1]).sort((a, b) => a - b);
  let [x0, x1, y0, y1] = [pick(cx, 0.01), pick(cx, 0.99), pick(cy, 0.01), pick(cy, 0.99)];
  const mx = (x1 - x0) * 0.04 || 0.01, my = (y1 - y0) * 0.04 || 0.01;
  [x0, x1, y0, y1] = [x0 - mx, x1 + mx, y0 - my, y1 + my];
  const W = 1000, H = 560, pad = 12;
  const k = Math.min((W - 2 * pad) / (x1 - x0 || 1), (H - 2 * pad) / (y1 - y0 || 1));
  const ox = (W - k * (x1 - x0)) / 2, oy = (H - k * (y1 - y0)) / 2;
  const values = cells.filter(hasValue).map((c) => c[layer]);
  const lo = Math.min(...values), hi = Math.max(...values);
  const norm = (v) => {
    if (!values.length || hi === lo) return 0.5;
    return spec.scale === "log" ? (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : (v - lo) / (hi - lo);
  };
  svg.innerHTML = cells.map((c, i) => {
    const pts = projected[i].map(([x, y]) => `${(ox + (x - x0) * k).toFixed(1)},${(oy + (y - y0) * k).toFixed(1)}`).join(" ");
    const v = c[layer];
    const has = v !== null && v !== undefined && v > 0;
    const fill = has ? colour(norm(v)) : "#18222c";
    const title = `${c.cell}\n${spec.label}: ${has ? spec.fmt(v) : "–"}\nleads ${c.leads} · buyers ${c.buyers} · offices ${c.offices}`;
    return `<polygon class="hex" data-cell="${c.cell}" points="${pts}" fill="${fill}"><title>${esc(title)}</title></polygon>`;
  }).join("");
  $("legend").innerHTML = values.length
    ? `${esc(spec.label)}: <span>${spec.fmt(lo)}</span>` + PALETTE.map((p) => `<i style="background:${p}"></i>`).join("") + `<span>${spec.fmt(hi)}</span>`
    : `${esc(spec.label)}: no data yet`;
}

function layerControls() {
  $("layers").innerHTML = Object.entries(LAYERS).map(([key, spec]) =>
    `<label><input type="radio" name="layer" value="${key}" ${key === layer ? "checked" : ""}> ${spec.label}</label>`).join("");
  $("layers").addEventListener("change", (e) => { layer = e.target.value; drawMap(); });
}

function connect() {
  const source = new EventSource("/v1/ops/stream");
  source.addEventListener("overview", (e) => overview(JSON.parse(e.data)));
  source.addEventListener("map", (e) => { mapData = JSON.parse(e.data); drawMap(); });
  source.onerror = () => { $("updated").textContent = "reconnecting…"; };
}

layerControls();
connect();
