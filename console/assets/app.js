// sluice console: a single-page application over the JSON API under
// /console/api/ (documented in docs/console.md). Plain JavaScript, no
// dependencies; every view is rendered from the API's answers, and the
// charts and the shard map are drawn here.
"use strict";

const API = "/console/api";
const MAX_HASH = (1n << 128n) - 1n;
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

const state = {
  session: null, // GET /session
  timers: [],    // cleared on every route change
  tail: null,    // the live tail's AbortController
  sort: { key: "name", dir: 1 },
  search: "",
  streams: [],
  recView: "text",
  route: 0,      // routes started (see route)
};

// ---- helpers -------------------------------------------------------------

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmtBytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)) + " " + u[i];
}
function fmtRate(n) { return fmtBytes(n) + "/s"; }
function fmtNum(n) {
  if (!n) return "0";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return n >= 100 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
}
function fmtTime(ms) { return new Date(ms).toISOString().replace("T", " ").replace("Z", ""); }
function shortShard(id) { return "#" + Number(id.replace(/^shardId-/, "")); }

function toast(msg, bad) {
  const d = document.createElement("div");
  d.textContent = msg;
  if (bad) d.className = "bad";
  $("#toast").appendChild(d);
  setTimeout(() => d.remove(), bad ? 9000 : 4000);
}

class APIError extends Error {
  constructor(status, body) { super(body.error || "HTTP " + status); this.status = status; this.code = body.code; }
}

async function api(method, path, body, signal) {
  const opts = { method, credentials: "same-origin", headers: {}, signal };
  if (method !== "GET") {
    opts.headers["X-CSRF-Token"] = (state.session && state.session.csrf) || "";
  }
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, opts);
  let data = {};
  try { data = await res.json(); } catch (e) { /* empty body */ }
  if (!res.ok) {
    if (res.status === 401 && data.code === "SignInRequired") {
      state.session = Object.assign({}, state.session, { user: "", csrf: "" });
      renderLogin();
    }
    throw new APIError(res.status, data);
  }
  return data;
}

function every(seconds, fn) {
  const id = setInterval(fn, Math.max(1, seconds) * 1000);
  state.timers.push(id);
}

function stopAll() {
  state.timers.forEach(clearInterval);
  state.timers = [];
  if (state.tail) { state.tail.abort(); state.tail = null; }
}

function openDialog(html, onSubmit) {
  const dlg = document.createElement("dialog");
  dlg.innerHTML = html;
  document.body.appendChild(dlg);
  const form = $("form", dlg);
  const err = $(".err", dlg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (ev.submitter && ev.submitter.value === "cancel") { dlg.close(); return; }
    err.textContent = "";
    try {
      await onSubmit(new FormData(form), dlg);
      dlg.close();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  dlg.addEventListener("close", () => dlg.remove());
  dlg.showModal();
  return dlg;
}

// ---- theme ---------------------------------------------------------------

function applyTheme(t) {
  if (t) document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
}
function toggleTheme() {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const t = dark ? "light" : "dark";
  localStorage.setItem("sluice-theme", t);
  applyTheme(t);
  if ($("#c-bytes")) { paintKeys(); loadCharts(); } // redraw the canvases in the new colours
}

// ---- session -------------------------------------------------------------

async function loadSession() {
  state.session = await api("GET", "/session");
  const who = $("#who");
  who.textContent = state.session.user ? state.session.user : "";
  who.title = state.session.userArn || "";
  $("#signout").hidden = !state.session.user;
}

function renderLogin() {
  stopAll();
  $("#who").textContent = "";
  $("#signout").hidden = true;
  $("#app").innerHTML = `
    <div class="panel login">
      <h1>Sign in</h1>
      <p class="muted">This server checks every request against its users file. Sign in with your access key.</p>
      <form id="login-form">
        <label>Access key id <input name="accessKeyId" id="ak" autocomplete="username" required autofocus></label>
        <label>Secret access key <input name="secretAccessKey" id="sk" type="password" autocomplete="current-password" required></label>
        <button class="primary" id="login-submit">Sign in</button>
        <p class="err" id="login-error"></p>
      </form>
    </div>`;
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fd = new FormData(ev.target);
    try {
      state.session = await api("POST", "/login", { accessKeyId: fd.get("accessKeyId"), secretAccessKey: fd.get("secretAccessKey") });
      await loadSession();
      route();
    } catch (e) {
      $("#login-error").textContent = e.message;
    }
  });
}

// ---- router --------------------------------------------------------------

// route renders the page the location's hash names. A route started later
// supersedes one still waiting for the API: state.route counts them, and a
// renderer that finds it changed after an await draws nothing.
async function route() {
  stopAll();
  const gen = ++state.route;
  if (!state.session) {
    try { await loadSession(); } catch (e) { $("#app").innerHTML = `<p class="err">${esc(e.message)}</p>`; return; }
    if (gen !== state.route) return;
  }
  if (state.session.auth && !state.session.user) { renderLogin(); return; }
  const h = location.hash.replace(/^#/, "") || "/streams";
  const m = h.match(/^\/streams\/([^/?]+)(?:\/(shards|records|consumers|settings))?/);
  try {
    if (m) await renderStream(decodeURIComponent(m[1]), m[2] || "shards", gen);
    else await renderStreams(gen);
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) {
      $("#app").innerHTML = `<div class="panel"><p class="err" id="page-error">${esc(e.message)}</p><p><a href="#/streams">Back to the streams</a></p></div>`;
    }
  }
}

// ---- streams -------------------------------------------------------------

const streamCols = [
  ["name", "Name"], ["status", "Status"], ["mode", "Mode", "hide-narrow"], ["openShards", "Open", "num"],
  ["closedShards", "Closed", "num hide-narrow"], ["retentionHours", "Retention", "num hide-narrow"],
  ["encryption", "Encryption", "hide-narrow"], ["inBytes", "In", "num"], ["inRecords", "In rec/s", "num hide-narrow"],
  ["outBytes", "Out", "num"], ["throttled", "Throttled/s", "num"],
];

async function renderStreams(gen) {
  const s = state.session;
  $("#app").innerHTML = `
    <h1>Streams</h1>
    <div class="toolbar">
      <input id="search" type="search" placeholder="Search streams (/)" aria-label="Search streams" value="${esc(state.search)}">
      ${s.canCreate ? `<button class="primary" id="create-open">Create stream</button>` : ""}
      <span class="muted" id="stream-count"></span>
    </div>
    <div class="panel tablewrap">
      <table id="streams"><thead><tr>
        ${streamCols.map(([k, t, cls]) => `<th class="sortable ${cls || ""}" data-key="${k}" tabindex="0">${t}</th>`).join("")}
        <th></th></tr></thead><tbody></tbody></table>
    </div>`;
  $("#search").addEventListener("input", (ev) => { state.search = ev.target.value; drawStreams(); });
  $$("#streams th.sortable").forEach((th) => {
    const sort = () => {
      const k = th.dataset.key;
      state.sort = { key: k, dir: state.sort.key === k ? -state.sort.dir : (k === "name" ? 1 : -1) };
      drawStreams();
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sort(); } });
  });
  if (s.canCreate) $("#create-open").addEventListener("click", createDialog);
  $("#streams tbody").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-delete]");
    if (b) deleteDialog(b.dataset.delete, () => loadStreams());
  });
  await loadStreams();
  if (gen === state.route) every(s.sampleSeconds, loadStreams);
}

async function loadStreams() {
  const t0 = performance.now();
  const data = await api("GET", "/streams");
  state.streams = data.streams;
  state.hidden = data.hidden;
  drawStreams();
  const t1 = performance.now();
  document.body.dataset.streamsLoadedMs = String(Math.round(t1 - t0));
  if (!document.body.dataset.streamsDrawnAt) document.body.dataset.streamsDrawnAt = String(Math.round(t1));
}

function drawStreams() {
  const tbody = $("#streams tbody");
  if (!tbody) return;
  const q = state.search.trim().toLowerCase();
  const { key, dir } = state.sort;
  const val = (r) => key === "throttled" ? r.writeThrottled + r.readThrottled : r[key];
  const rows = state.streams.filter((r) => !q || r.name.toLowerCase().includes(q));
  rows.sort((a, b) => {
    const x = val(a), y = val(b);
    return (x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : 1) * dir;
  });
  $$("#streams th.sortable").forEach((th) => {
    if (th.dataset.key === key) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  });
  const html = [];
  for (const r of rows) {
    const thr = r.writeThrottled + r.readThrottled;
    const href = "#/streams/" + encodeURIComponent(r.name);
    html.push(`<tr data-stream="${esc(r.name)}">
      <td><a href="${href}" data-stream="${esc(r.name)}">${esc(r.name)}</a></td>
      <td class="status-${esc(r.status)}">${esc(r.status)}</td>
      <td class="hide-narrow">${esc(r.mode)}</td>
      <td class="num">${r.openShards}</td><td class="num hide-narrow">${r.closedShards}</td>
      <td class="num hide-narrow">${r.retentionHours} h</td><td class="hide-narrow">${esc(r.encryption)}</td>
      <td class="num">${fmtRate(r.inBytes)}</td><td class="num hide-narrow">${fmtNum(r.inRecords)}</td>
      <td class="num">${fmtRate(r.outBytes)}</td>
      <td class="num ${thr > 0 ? "throttled" : ""}">${fmtNum(thr)}</td>
      <td>${r.canDelete ? `<button class="link danger" data-delete="${esc(r.name)}" aria-label="Delete ${esc(r.name)}">Delete</button>` : ""}</td>
    </tr>`);
  }
  tbody.innerHTML = html.join("");
  const hidden = state.hidden ? ` (${state.hidden} hidden by your policy)` : "";
  $("#stream-count").textContent = `${rows.length} of ${state.streams.length} streams${hidden}`;
}

function createDialog() {
  openDialog(`
    <h2>Create a stream</h2>
    <form id="create-form">
      <label>Name <input name="name" required pattern="[a-zA-Z0-9_.\\-]{1,128}" title="1 to 128 of a-z A-Z 0-9 _ . -" autofocus></label>
      <label>Capacity mode <select name="mode"><option>PROVISIONED</option><option>ON_DEMAND</option></select></label>
      <label>Shards (provisioned) <input name="shards" type="number" min="1" max="10000" value="1"></label>
      <label>Retention (hours, 24 to 8760) <input name="retention" type="number" min="24" max="8760" value="24"></label>
      <p class="err"></p>
      <div class="actions"><button value="cancel" formnovalidate>Cancel</button><button class="primary" id="create-submit">Create</button></div>
    </form>`, async (fd) => {
    const name = fd.get("name");
    await api("POST", "/streams", { name, mode: fd.get("mode"), shards: Number(fd.get("shards")), retentionHours: Number(fd.get("retention")) });
    toast(`Created stream ${name}`);
    location.hash = "#/streams/" + encodeURIComponent(name);
  });
}

function deleteDialog(name, after) {
  openDialog(`
    <h2>Delete stream ${esc(name)}</h2>
    <form id="delete-form">
      <p>This deletes the stream and every record in it. It cannot be undone.</p>
      <label>Type the stream's name to confirm <input name="confirm" id="delete-confirm" autocomplete="off" autofocus></label>
      <label><span><input type="checkbox" name="force"> also deregister its consumers</span></label>
      <p class="err"></p>
      <div class="actions"><button value="cancel" formnovalidate>Cancel</button><button class="danger" id="delete-submit" disabled>Delete</button></div>
    </form>`, async (fd) => {
    await api("DELETE", "/streams/" + encodeURIComponent(name), { confirm: fd.get("confirm"), force: fd.get("force") === "on" });
    toast(`Deleted stream ${name}`);
    after();
  });
  const input = $("#delete-confirm");
  input.addEventListener("input", () => { $("#delete-submit").disabled = input.value !== name; });
}

// ---- a stream ------------------------------------------------------------

async function renderStream(name, tab, gen) {
  const enc = encodeURIComponent(name);
  const v = await api("GET", "/streams/" + enc);
  if (gen !== state.route) return;
  state.stream = v;
  const tabs = [["shards", "Shards & traffic"], ["records", "Records"], ["consumers", "Consumers"], ["settings", "Settings"]];
  $("#app").innerHTML = `
    <p><a href="#/streams">Streams</a> /</p>
    <h1>${esc(name)}</h1>
    <div class="panel facts" id="facts"></div>
    <nav class="tabs">${tabs.map(([k, t]) => `<a id="tab-${k}" href="#/streams/${enc}/${k}" ${k === tab ? 'aria-current="page"' : ""}>${t}</a>`).join("")}</nav>
    <section id="tab"></section>`;
  drawFacts(v);
  if (tab === "records") renderRecords(v);
  else if (tab === "consumers") renderConsumers(v);
  else if (tab === "settings") renderSettings(v);
  else await renderShards(v, gen);
}

function drawFacts(v) {
  const open = v.shards.filter((s) => !s.closed).length;
  $("#facts").innerHTML = [
    ["Status", `<span class="status-${esc(v.status)}">${esc(v.status)}</span>`], ["Mode", esc(v.mode)],
    ["Shards", `${open} open, ${v.shards.length - open} closed`], ["Retention", v.retentionHours + " hours"],
    ["Encryption", esc(v.encryption) + (v.keyId ? " (" + esc(v.keyId) + ")" : "")],
    ["Max record size", fmtBytes(v.maxRecordSize)], ["Created", fmtTime(v.created)], ["ARN", `<span class="mono">${esc(v.arn)}</span>`],
  ].map(([k, x]) => `<div${k === "ARN" ? ' class="wide"' : ""}><span>${k}</span><b>${x}</b></div>`).join("");
}

async function reloadStream() {
  const v = await api("GET", "/streams/" + encodeURIComponent(state.stream.name));
  state.stream = v;
  drawFacts(v);
  return v;
}

// ---- shards: map, table, charts, actions ---------------------------------

async function renderShards(v, gen) {
  const can = v.can;
  $("#tab").innerHTML = `
    <div class="panel">
      <div class="toolbar">
        <strong>Shard map</strong><span class="muted">over the hash key space 0 … 2<sup>128</sup>−1</span>
        <span class="spacer"></span>
        <span class="legend"><span>share of traffic: low <span class="swatch"></span> high</span><span>closed shards grey, above their children</span></span>
      </div>
      <svg id="shard-map" role="img" aria-label="Shard map"></svg>
    </div>
    <div class="toolbar">
      ${can.split ? `<button id="split-open">Split a shard</button>` : ""}
      ${can.merge ? `<button id="merge-open">Merge two shards</button>` : ""}
      ${can.scale ? `<button id="scale-open">Scale</button>` : ""}
    </div>
    <div class="panel tablewrap"><table id="shards"><thead><tr>
      <th>Shard</th><th class="hide-narrow">Parents</th><th class="hide-narrow">Hash key range</th><th class="num">Records</th>
      <th class="num">Share</th><th class="num">In</th><th class="num">Out</th><th class="num">Throttled/s</th><th class="num">Iterator age</th>
    </tr></thead><tbody></tbody></table></div>
    <h2>Traffic <span class="muted" id="chart-scope"></span></h2>
    <div class="toolbar"><label>Shard <select id="chart-shard"><option value="">all shards</option></select></label></div>
    <div class="charts">
      <div class="chart"><h3>Bytes per second</h3><canvas id="c-bytes"></canvas><div class="keys"><i class="k1"></i>in<i class="k2"></i>out</div></div>
      <div class="chart"><h3>Records per second</h3><canvas id="c-records"></canvas><div class="keys"><i class="k1"></i>in<i class="k2"></i>out</div></div>
      <div class="chart"><h3>Throttled per second</h3><canvas id="c-throttles"></canvas><div class="keys"><i class="k1"></i>writes (records)<i class="k2"></i>reads</div></div>
      <div class="chart"><h3>Iterator age (ms)</h3><canvas id="c-age"></canvas><div class="keys"><i class="k3"></i>most recent read</div></div>
    </div>`;
  paintKeys();
  drawShardTable(v);
  drawMap(v);
  const sel = $("#chart-shard");
  sel.innerHTML = `<option value="">all shards</option>` + v.shards.map((s) => `<option value="${esc(s.id)}">${esc(s.id)}${s.closed ? " (closed)" : ""}</option>`).join("");
  sel.value = state.chartShard && v.shards.some((s) => s.id === state.chartShard) ? state.chartShard : "";
  sel.addEventListener("change", () => { state.chartShard = sel.value; drawMap(state.stream); loadCharts(); });
  $("#shard-map").addEventListener("click", (ev) => {
    const r = ev.target.closest("rect[data-shard]");
    if (!r) return;
    state.chartShard = state.chartShard === r.dataset.shard ? "" : r.dataset.shard;
    sel.value = state.chartShard;
    drawMap(state.stream);
    loadCharts();
  });
  if (can.split) $("#split-open").addEventListener("click", () => splitDialog());
  if (can.merge) $("#merge-open").addEventListener("click", mergeDialog);
  if (can.scale) $("#scale-open").addEventListener("click", scaleDialog);
  await loadCharts();
  if (gen !== state.route) return;
  every(state.session.sampleSeconds, async () => {
    const v = await reloadStream();
    drawShardTable(v);
    drawMap(v);
    await loadCharts();
  });
}

// paintKeys colours the charts' legends as the theme colours the lines.
function paintKeys() {
  const css = getComputedStyle(document.documentElement);
  $$(".keys i").forEach((i) => { i.style.background = css.getPropertyValue("--chart" + i.className.slice(1)); });
}

function drawShardTable(v) {
  const tb = $("#shards tbody");
  if (!tb) return;
  tb.innerHTML = v.shards.map((s) => {
    const thr = s.writeThrottled + s.readThrottled;
    return `<tr data-shard="${esc(s.id)}" class="${s.closed ? "muted" : ""}">
      <td class="mono">${esc(s.id)}${s.closed ? " (closed)" : ""}</td>
      <td class="mono hide-narrow">${esc([s.parent, s.adjacentParent].filter(Boolean).map(shortShard).join(" + ") || "—")}</td>
      <td class="mono hide-narrow" title="${esc(s.hashStart)} … ${esc(s.hashEnd)}">${pct(s.hashStart)} … ${pct(s.hashEnd)}</td>
      <td class="num">${s.records}</td><td class="num">${(s.share * 100).toFixed(1)}%</td>
      <td class="num">${fmtRate(s.inBytes)}</td><td class="num">${fmtRate(s.outBytes)}</td>
      <td class="num ${thr > 0 ? "throttled" : ""}">${fmtNum(thr)}</td><td class="num">${fmtNum(s.iteratorAgeMs)} ms</td></tr>`;
  }).join("");
}

// frac returns a decimal hash key's place in the key space, 0..1.
function frac(dec) { return Number((BigInt(dec) * 1000000n) / MAX_HASH) / 1e6; }
function pct(dec) { return (frac(dec) * 100).toFixed(2) + "%"; }

// heat colours a share of traffic relative to the busiest shard's: blue
// (idle) through green and yellow to red (the busiest).
function heat(t) {
  t = Math.max(0, Math.min(1, t));
  const hue = 210 - 200 * t;
  return `hsl(${hue.toFixed(0)}, ${60 + 25 * t}%, ${62 - 12 * t}%)`;
}

// drawMap draws the shards over the hash key space: open shards as a tall
// band at the bottom, closed ones in rows above by generation, lines from
// each parent to its children.
function drawMap(v) {
  const svg = $("#shard-map");
  if (!svg) return;
  const W = 1000, rowH = 22, gap = 10, openH = 90, axisH = 16;
  const byId = new Map(v.shards.map((s) => [s.id, s]));
  const depth = new Map();
  const depthOf = (s) => {
    if (depth.has(s.id)) return depth.get(s.id);
    depth.set(s.id, 0);
    let d = 0;
    for (const p of [s.parent, s.adjacentParent]) if (p && byId.has(p)) d = Math.max(d, depthOf(byId.get(p)) + 1);
    depth.set(s.id, d);
    return d;
  };
  v.shards.forEach(depthOf);
  const closed = v.shards.filter((s) => s.closed);
  const rows = closed.length ? Math.max(...closed.map((s) => depth.get(s.id))) + 1 : 0;
  const H = rows * (rowH + gap) + openH + axisH;
  const open = v.shards.filter((s) => !s.closed);
  const maxShare = Math.max(0, ...open.map((s) => s.share));
  const box = new Map();
  const parts = [];
  for (const s of v.shards) {
    const x0 = frac(s.hashStart) * W, x1 = (frac(s.hashEnd) * W);
    const w = Math.max(1.5, x1 - x0);
    const y = s.closed ? depth.get(s.id) * (rowH + gap) : rows * (rowH + gap);
    const h = s.closed ? rowH : openH;
    box.set(s.id, { x: x0 + w / 2, top: y, bottom: y + h });
  }
  for (const s of v.shards) {
    const b = box.get(s.id);
    for (const p of [s.parent, s.adjacentParent]) {
      const pb = p && box.get(p);
      if (pb) parts.push(`<line class="lineage" x1="${pb.x.toFixed(1)}" y1="${pb.bottom}" x2="${b.x.toFixed(1)}" y2="${b.top}"/>`);
    }
  }
  for (const s of v.shards) {
    const x0 = frac(s.hashStart) * W, x1 = frac(s.hashEnd) * W;
    const w = Math.max(1.5, x1 - x0);
    const b = box.get(s.id);
    const fill = s.closed ? "" : ` fill="${heat(maxShare > 0 ? s.share / maxShare : 0)}"`;
    const sel = state.chartShard === s.id ? " selected" : "";
    parts.push(`<rect class="shard${s.closed ? " closed" : ""}${sel}" data-shard="${esc(s.id)}" x="${x0.toFixed(1)}" y="${b.top}" width="${w.toFixed(1)}" height="${b.bottom - b.top}"${fill} tabindex="0"><title>${esc(s.id)}${s.closed ? " (closed)" : ""}
hash keys ${esc(s.hashStart)} … ${esc(s.hashEnd)}
${(s.share * 100).toFixed(1)}% of traffic · in ${fmtRate(s.inBytes)} · out ${fmtRate(s.outBytes)}</title></rect>`);
    if (w > 46) {
      const label = shortShard(s.id) + (s.closed ? "" : " · " + (s.share * 100).toFixed(0) + "%");
      parts.push(`<text x="${(x0 + 4).toFixed(1)}" y="${b.top + (s.closed ? 15 : 18)}">${esc(label)}</text>`);
    }
  }
  const ay = H - 3;
  parts.push(`<text class="axis" x="0" y="${ay}">0</text><text class="axis" x="${W / 2 - 10}" y="${ay}">2^127</text><text class="axis" x="${W}" y="${ay}" text-anchor="end">2^128−1</text>`);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.innerHTML = parts.join("");
  svg.dataset.shards = String(v.shards.length);
  svg.dataset.open = String(open.length);
}

async function loadCharts() {
  const v = state.stream;
  if (!$("#c-bytes")) return;
  const shard = state.chartShard || "";
  const m = await api("GET", `/streams/${encodeURIComponent(v.name)}/metrics` + (shard ? "?shard=" + encodeURIComponent(shard) : ""));
  const sum = (name) => {
    const out = new Array(m.times.length).fill(0);
    for (const s of Object.values(m.shards)) s[name].forEach((x, i) => { out[i] += x; });
    return out;
  };
  const max = (name) => {
    const out = new Array(m.times.length).fill(0);
    for (const s of Object.values(m.shards)) s[name].forEach((x, i) => { out[i] = Math.max(out[i], x); });
    return out;
  };
  const span = m.times.length * m.intervalSeconds;
  $("#chart-scope").textContent = (shard ? shard : "all shards") + ", last " + (span < 90 ? Math.round(span) + " s" : (span / 60).toFixed(1) + " min");
  drawChart($("#c-bytes"), m.times, [sum("inBytes"), sum("outBytes")], fmtRate);
  drawChart($("#c-records"), m.times, [sum("inRecords"), sum("outRecords")], fmtNum);
  drawChart($("#c-throttles"), m.times, [sum("writeThrottled"), sum("readThrottled")], fmtNum);
  drawChart($("#c-age"), m.times, [null, null, max("iteratorAgeMs")], fmtNum);
}

// drawChart draws line series over time on a canvas, scaled to the
// largest value, with the value axis labelled by fmt.
function drawChart(cv, times, series, fmt) {
  const css = getComputedStyle(document.documentElement);
  const dpr = window.devicePixelRatio || 1;
  const W = cv.clientWidth || 300, H = cv.clientHeight || 150;
  cv.width = W * dpr; cv.height = H * dpr;
  const g = cv.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, W, H);
  const L = 64, B = 18, T = 6, R = 6;
  let top = 0;
  series.forEach((s) => s && s.forEach((x) => { top = Math.max(top, x); }));
  top = top > 0 ? top * 1.15 : 1;
  g.strokeStyle = css.getPropertyValue("--line");
  g.fillStyle = css.getPropertyValue("--muted");
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  for (let i = 0; i <= 3; i++) {
    const y = T + (H - T - B) * (1 - i / 3);
    g.beginPath(); g.moveTo(L, y); g.lineTo(W - R, y); g.stroke();
    g.fillText(fmt(top * i / 3), 2, y + 4);
  }
  if (times.length) {
    g.fillText(new Date(times[0]).toLocaleTimeString(), L, H - 4);
    const last = new Date(times[times.length - 1]).toLocaleTimeString();
    g.fillText(last, W - R - g.measureText(last).width, H - 4);
  }
  const n = times.length;
  series.forEach((s, k) => {
    if (!s || n === 0) return;
    g.strokeStyle = css.getPropertyValue("--chart" + (k + 1));
    g.lineWidth = 1.8;
    g.beginPath();
    s.forEach((x, i) => {
      const px = L + (W - L - R) * (n === 1 ? 1 : i / (n - 1));
      const py = T + (H - T - B) * (1 - x / top);
      if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);
    });
    g.stroke();
  });
  cv.dataset.points = String(n);
}

function openShards() { return state.stream.shards.filter((s) => !s.closed); }

function splitDialog() {
  const open = openShards();
  const shard = state.chartShard && open.some((s) => s.id === state.chartShard) ? state.chartShard : (open[0] || {}).id;
  const dlg = openDialog(`
    <h2>Split a shard</h2>
    <form id="split-form">
      <label>Shard <select name="shard" id="split-shard">${open.map((s) => `<option ${s.id === shard ? "selected" : ""}>${esc(s.id)}</option>`).join("")}</select></label>
      <label>New starting hash key of the second child (decimal)
        <input name="hashKey" id="split-key" class="mono" required pattern="[0-9]{1,39}"></label>
      <div class="toolbar"><button type="button" id="split-middle">Middle of the range</button><button type="button" id="split-traffic">Traffic-aware</button></div>
      <p class="muted" id="split-basis"></p>
      <p class="err"></p>
      <div class="actions"><button value="cancel" formnovalidate>Cancel</button><button class="primary" id="split-submit">Split</button></div>
    </form>`, async (fd) => {
    const v = await api("POST", `/streams/${encodeURIComponent(state.stream.name)}/split`, { shard: fd.get("shard"), hashKey: fd.get("hashKey") });
    toast(`Split ${fd.get("shard")}`);
    afterReshard(v);
  });
  const middle = () => {
    const s = state.stream.shards.find((x) => x.id === $("#split-shard", dlg).value);
    const a = BigInt(s.hashStart), b = BigInt(s.hashEnd);
    $("#split-key", dlg).value = String(a + (b - a + 1n) / 2n);
    $("#split-basis", dlg).textContent = "The middle of the shard's range.";
  };
  const traffic = async () => {
    try {
      const p = await api("GET", `/streams/${encodeURIComponent(state.stream.name)}/splitkey?shard=` + encodeURIComponent($("#split-shard", dlg).value));
      $("#split-key", dlg).value = p.hashKey;
      $("#split-basis", dlg).textContent = p.basis === "traffic"
        ? `The median hash of the partition keys of the shard's ${p.sampled} newest records: each child gets about half of them.`
        : "The shard has no records to go by: the middle of its range.";
    } catch (e) { $(".err", dlg).textContent = e.message; }
  };
  $("#split-middle", dlg).addEventListener("click", middle);
  $("#split-traffic", dlg).addEventListener("click", traffic);
  $("#split-shard", dlg).addEventListener("change", middle);
  middle();
}

function mergeDialog() {
  const open = openShards().sort((a, b) => (BigInt(a.hashStart) < BigInt(b.hashStart) ? -1 : 1));
  const pairs = [];
  for (let i = 0; i + 1 < open.length; i++) {
    if (BigInt(open[i].hashEnd) + 1n === BigInt(open[i + 1].hashStart)) pairs.push([open[i], open[i + 1]]);
  }
  openDialog(`
    <h2>Merge two adjacent shards</h2>
    <form id="merge-form">
      <label>Shards <select name="pair">${pairs.map(([a, b], i) => `<option value="${i}">${esc(a.id)} + ${esc(b.id)} (${((a.share + b.share) * 100).toFixed(1)}% of traffic)</option>`).join("")}</select></label>
      ${pairs.length ? "" : `<p class="muted">No two open shards are adjacent.</p>`}
      <p class="err"></p>
      <div class="actions"><button value="cancel" formnovalidate>Cancel</button><button class="primary" id="merge-submit" ${pairs.length ? "" : "disabled"}>Merge</button></div>
    </form>`, async (fd) => {
    const [a, b] = pairs[Number(fd.get("pair"))];
    const v = await api("POST", `/streams/${encodeURIComponent(state.stream.name)}/merge`, { shard: a.id, adjacent: b.id });
    toast(`Merged ${a.id} and ${b.id}`);
    afterReshard(v);
  });
}

function scaleDialog() {
  const n = openShards().length;
  openDialog(`
    <h2>Scale to a number of open shards</h2>
    <form id="scale-form">
      <label>Open shards (${Math.ceil(n / 2)} to ${n * 2}: half to double the ${n} now) <input name="shards" type="number" min="1" value="${n}" required></label>
      <p class="err"></p>
      <div class="actions"><button value="cancel" formnovalidate>Cancel</button><button class="primary" id="scale-submit">Scale</button></div>
    </form>`, async (fd) => {
    const v = await api("POST", `/streams/${encodeURIComponent(state.stream.name)}/scale`, { shards: Number(fd.get("shards")) });
    toast(`Scaled to ${fd.get("shards")} open shards`);
    afterReshard(v);
  });
}

function afterReshard(v) {
  state.stream = v;
  drawFacts(v);
  drawShardTable(v);
  drawMap(v);
  const sel = $("#chart-shard");
  if (sel) sel.innerHTML = `<option value="">all shards</option>` + v.shards.map((s) => `<option value="${esc(s.id)}">${esc(s.id)}${s.closed ? " (closed)" : ""}</option>`).join("");
}

// ---- records -------------------------------------------------------------

function renderRecords(v) {
  if (!v.can.read) {
    $("#tab").innerHTML = `<div class="panel"><p class="muted" id="no-read">Your policy does not allow reading this stream's records (kinesis:GetShardIterator and kinesis:GetRecords).</p></div>`;
    return;
  }
  const shards = v.shards.map((s) => `<option value="${esc(s.id)}">${esc(s.id)}${s.closed ? " (closed)" : ""}</option>`).join("");
  const now = new Date();
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  $("#tab").innerHTML = `
    <div class="panel">
      <form id="browse-form" class="toolbar">
        <label>Shard <select id="rec-shard">${shards}</select></label>
        <label>From <select id="rec-from">
          <option>TRIM_HORIZON</option><option>LATEST</option><option>AT_TIMESTAMP</option>
          <option>AT_SEQUENCE_NUMBER</option><option>AFTER_SEQUENCE_NUMBER</option></select></label>
        <input id="rec-seq" class="mono" placeholder="sequence number" hidden>
        <input id="rec-time" type="datetime-local" step="1" value="${local(new Date(now - 3600e3))}" hidden>
        <button class="primary" id="rec-load">Read</button>
        <button type="button" id="rec-more" disabled>More</button>
        <label><input type="checkbox" id="rec-tail"> Live tail</label>
        <span class="spacer"></span>
        <label>Show data as <select id="rec-view"><option value="text">text</option><option value="json">JSON</option><option value="hex">hex</option></select></label>
      </form>
      <p class="muted" id="rec-status"></p>
      <div class="tablewrap"><table id="records"><thead><tr><th>Sequence number</th><th>Partition key</th><th>Arrival (UTC)</th><th class="num">Size</th><th>Data</th></tr></thead><tbody></tbody></table></div>
    </div>
    <div class="panel">
      <form id="find-form" class="toolbar">
        <strong>Find by partition key</strong>
        <input id="find-key" placeholder="partition key" required>
        <label>from <input id="find-from" type="datetime-local" step="1" value="${local(new Date(now - 3600e3))}"></label>
        <label>to <input id="find-to" type="datetime-local" step="1" value="${local(new Date(now.getTime() + 60e3))}"></label>
        <button class="primary" id="find-submit">Find</button>
      </form>
      <p class="muted" id="find-status"></p>
      <div class="tablewrap"><table id="find-results"><thead><tr><th>Shard</th><th>Sequence number</th><th>Partition key</th><th>Arrival (UTC)</th><th class="num">Size</th><th>Data</th></tr></thead><tbody></tbody></table></div>
    </div>`;
  const name = encodeURIComponent(v.name);
  let cursor = "";
  let shown = [];
  const from = $("#rec-from");
  from.addEventListener("change", () => {
    $("#rec-seq").hidden = !from.value.endsWith("SEQUENCE_NUMBER");
    $("#rec-time").hidden = from.value !== "AT_TIMESTAMP";
  });
  $("#rec-view").value = state.recView;
  $("#rec-view").addEventListener("change", (ev) => {
    state.recView = ev.target.value;
    drawRecords($("#records tbody"), shown, false);
    drawRecords($("#find-results tbody"), state.found || [], true);
  });
  const query = () => {
    const p = new URLSearchParams({ shard: $("#rec-shard").value, limit: "100" });
    if (cursor) p.set("cursor", cursor);
    else {
      p.set("from", from.value);
      if (from.value.endsWith("SEQUENCE_NUMBER")) p.set("seq", $("#rec-seq").value.trim());
      if (from.value === "AT_TIMESTAMP") p.set("time", String(new Date($("#rec-time").value).getTime()));
    }
    return p;
  };
  const load = async (more) => {
    if (!more) { cursor = ""; shown = []; }
    const page = await api("GET", `/streams/${name}/records?` + query());
    cursor = page.cursor;
    shown = shown.concat(page.records);
    drawRecords($("#records tbody"), shown, false);
    $("#rec-more").disabled = page.shardEnd;
    $("#rec-status").textContent = `${shown.length} records` + (page.shardEnd ? ` · end of this closed shard; continue with ${(page.children || []).join(", ")}` : page.millisBehind ? ` · ${fmtNum(page.millisBehind)} ms behind the newest` : " · caught up");
  };
  const tail = async () => {
    const ctl = new AbortController();
    state.tail = ctl;
    if (!cursor) {
      from.value = "LATEST";
      await load(false);
    }
    while (state.tail === ctl) {
      try {
        const p = query();
        p.set("wait", "20");
        const page = await api("GET", `/streams/${name}/records?` + p, undefined, ctl.signal);
        cursor = page.cursor;
        shown = shown.concat(page.records).slice(-500);
        if (page.records.length) drawRecords($("#records tbody"), shown, false);
        $("#rec-status").textContent = `live tail · ${shown.length} records shown (the newest 500)`;
        if (page.shardEnd) { $("#rec-status").textContent += " · the shard is closed"; break; }
      } catch (e) {
        if (ctl.signal.aborted) return;
        $("#rec-status").textContent = e.message;
        return;
      }
    }
  };
  $("#browse-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("#rec-tail").checked = false;
    if (state.tail) { state.tail.abort(); state.tail = null; }
    load(false).catch((e) => { $("#rec-status").textContent = e.message; });
  });
  $("#rec-more").addEventListener("click", () => load(true).catch((e) => { $("#rec-status").textContent = e.message; }));
  $("#rec-tail").addEventListener("change", (ev) => {
    if (ev.target.checked) tail();
    else if (state.tail) { state.tail.abort(); state.tail = null; }
  });
  $("#rec-shard").addEventListener("change", () => { cursor = ""; });
  from.addEventListener("change", () => { cursor = ""; });
  for (const tb of [$("#records tbody"), $("#find-results tbody")]) {
    tb.addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr.rec");
      if (!tr) return;
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("detail")) { next.remove(); return; }
      const list = tb.closest("table").id === "records" ? shown : state.found;
      const r = list[Number(tr.dataset.i)];
      tr.insertAdjacentHTML("afterend", `<tr class="detail"><td colspan="6"><pre class="data">${esc(renderData(r.data, state.recView))}</pre></td></tr>`);
    });
  }
  $("#find-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams({ key: $("#find-key").value, from: String(new Date($("#find-from").value).getTime()), to: String(new Date($("#find-to").value).getTime()) });
    $("#find-status").textContent = "searching…";
    try {
      const r = await api("GET", `/streams/${name}/find?` + p);
      state.found = r.records;
      drawRecords($("#find-results tbody"), r.records, true);
      $("#find-status").textContent = `${r.records.length} records in ${r.shards.join(", ")}; ${r.scanned} scanned` + (r.truncated ? " (stopped at the limit: narrow the window)" : "");
    } catch (e) { $("#find-status").textContent = e.message; }
  });
}

function b64bytes(b64) {
  const s = atob(b64 || "");
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// renderData shows a record's data as text (UTF-8), pretty JSON or a hex
// dump.
function renderData(b64, view) {
  const bytes = b64bytes(b64);
  if (view === "hex") {
    const lines = [];
    for (let off = 0; off < bytes.length; off += 16) {
      const row = bytes.slice(off, off + 16);
      const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
      const asc = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      lines.push(off.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + asc);
    }
    return lines.join("\n");
  }
  const text = new TextDecoder("utf-8").decode(bytes);
  if (view === "json") {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return "(not JSON) " + text; }
  }
  return text;
}

function drawRecords(tb, recs, withShard) {
  tb.innerHTML = recs.map((r, i) => {
    const preview = renderData(r.data, state.recView === "json" ? "text" : state.recView).slice(0, 160);
    return `<tr class="rec" data-i="${i}" tabindex="0">
      ${withShard ? `<td class="mono">${esc(shortShard(r.shard))}</td>` : ""}
      <td class="mono" title="${esc(r.seq)}">…${esc(r.seq.slice(-12))}</td><td>${esc(r.key)}</td>
      <td>${fmtTime(r.arrival)}</td><td class="num">${fmtBytes(r.size)}</td>
      <td class="preview mono">${esc(preview)}</td></tr>`;
  }).join("");
}

// ---- consumers -----------------------------------------------------------

function renderConsumers(v) {
  $("#tab").innerHTML = `
    <div class="panel">
      <p class="muted">Enhanced fan-out consumers: each reads every shard through SubscribeToShard with its own 2 MiB/s per shard.</p>
      ${v.can.consumers ? `<form id="consumer-form" class="toolbar"><input id="consumer-name" placeholder="consumer name" required pattern="[a-zA-Z0-9_.\\-]{1,128}"><button class="primary" id="consumer-submit">Register</button></form>` : ""}
      <div class="tablewrap"><table id="consumers"><thead><tr><th>Name</th><th>Status</th><th>Registered (UTC)</th><th class="hide-narrow">ARN</th><th></th></tr></thead><tbody>
      ${v.consumers.map((c) => `<tr><td>${esc(c.name)}</td><td class="status-${esc(c.status)}">${esc(c.status)}</td><td>${fmtTime(c.created)}</td>
        <td class="mono hide-narrow">${esc(c.arn)}</td><td>${c.canDeregister ? `<button class="link danger" data-consumer="${esc(c.name)}">Deregister</button>` : ""}</td></tr>`).join("")
        || `<tr><td colspan="5" class="muted">No consumers registered.</td></tr>`}
      </tbody></table></div>
    </div>`;
  const name = encodeURIComponent(v.name);
  const f = $("#consumer-form");
  if (f) f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const nv = await api("POST", `/streams/${name}/consumers`, { name: $("#consumer-name").value });
      toast("Registered " + $("#consumer-name").value);
      state.stream = nv;
      renderConsumers(nv);
    } catch (e) { toast(e.message, true); }
  });
  $("#consumers").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-consumer]");
    if (!b || !confirm(`Deregister consumer ${b.dataset.consumer}? Its subscriptions end.`)) return;
    try {
      const nv = await api("DELETE", `/streams/${name}/consumers/${encodeURIComponent(b.dataset.consumer)}`);
      state.stream = nv;
      renderConsumers(nv);
    } catch (e) { toast(e.message, true); }
  });
}

// ---- settings ------------------------------------------------------------

function renderSettings(v) {
  const tags = Object.entries(v.tags).sort();
  $("#tab").innerHTML = `
    <div class="grid2">
      <div class="panel">
        <h2>Retention</h2>
        <form id="retention-form" class="toolbar">
          <label>Hours (24 to 8760) <input id="retention-hours" type="number" min="24" max="8760" value="${v.retentionHours}" ${v.can.retention ? "" : "disabled"}></label>
          ${v.can.retention ? `<button class="primary" id="retention-submit">Save</button>` : ""}
        </form>
      </div>
      <div class="panel">
        <h2>Tags</h2>
        <div id="tags">${tags.map(([k, x]) => `<span class="tag">${esc(k)} = ${esc(x)}${v.can.tags ? ` <button class="link" data-untag="${esc(k)}" aria-label="Remove tag ${esc(k)}">×</button>` : ""}</span>`).join("") || `<span class="muted">No tags.</span>`}</div>
        ${v.can.tags ? `<form id="tag-form" class="toolbar"><input id="tag-key" placeholder="key" required><input id="tag-value" placeholder="value"><button class="primary">Add tag</button></form>` : ""}
      </div>
    </div>
    ${v.can.delete ? `<div class="panel"><h2>Delete</h2><p>Deleting a stream removes every record in it.</p><button class="danger" id="delete-open">Delete stream…</button></div>` : ""}`;
  const name = encodeURIComponent(v.name);
  const redraw = (nv) => { state.stream = nv; drawFacts(nv); renderSettings(nv); };
  const rf = $("#retention-form");
  rf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { redraw(await api("POST", `/streams/${name}/retention`, { hours: Number($("#retention-hours").value) })); toast("Retention saved"); } catch (e) { toast(e.message, true); }
  });
  const tf = $("#tag-form");
  if (tf) tf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { redraw(await api("POST", `/streams/${name}/tags`, { add: { [$("#tag-key").value]: $("#tag-value").value } })); } catch (e) { toast(e.message, true); }
  });
  $("#tags").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-untag]");
    if (!b) return;
    try { redraw(await api("POST", `/streams/${name}/tags`, { remove: [b.dataset.untag] })); } catch (e) { toast(e.message, true); }
  });
  const d = $("#delete-open");
  if (d) d.addEventListener("click", () => deleteDialog(v.name, () => { location.hash = "#/streams"; }));
}

// ---- start ---------------------------------------------------------------

applyTheme(localStorage.getItem("sluice-theme"));
$("#theme").addEventListener("click", toggleTheme);
$("#signout").addEventListener("click", async () => {
  try { await api("POST", "/logout"); } catch (e) { /* signed out anyway */ }
  state.session = null;
  route();
});
document.addEventListener("keydown", (ev) => {
  const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "/" && $("#search")) { ev.preventDefault(); $("#search").focus(); }
  else if (ev.key === "t") toggleTheme();
  else if (ev.key === "Enter" && document.activeElement.matches("tr.rec, rect[data-shard]")) {
    document.activeElement.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  }
});
window.addEventListener("hashchange", route);
route();
