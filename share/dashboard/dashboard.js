// weir dashboard: plain JS, no build step, no library.  The master serves
// this file on its admin listener (src/master/dashboard.c, admin.c).
//
//   GET  /dashboard/data     status with the front end's live figures, and
//                            the master's 5-minute history (polled each second)
//   GET  /dashboard/events   the event log as server-sent events
//   POST /dashboard/pools/NAME/ACTION, /dashboard/reload  (X-Weir-CSRF)
"use strict";

const POLL_MS = 1000;
const MAX_EVENTS = 300;
const STATUS_ERROR = "cannot read the status: ";
const csrf = document.querySelector('meta[name="weir-csrf"]').content;
const pools = new Map();	// name -> { el, ... }
let polling = false;
let source = null;

function $(sel, root) { return (root || document).querySelector(sel); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function say(text, isError) {
  const m = $("#message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function duration(s) {
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d" + Math.floor(s % 86400 / 3600) + "h";
}

function bytes(n) {
  if (!n) return "–";
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}

// A small line chart on a canvas: values (null = no data) over the history.
function chart(canvas, values, unit) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 180, h = canvas.clientHeight || 48;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const known = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...known);
  g.fillStyle = "#667085";
  g.font = "10px system-ui, sans-serif";
  const last = known.length ? known[known.length - 1] : null;
  g.fillText((last === null ? "–" : (last < 10 ? last.toFixed(1) : Math.round(last))) +
    " " + unit + "  (max " + (max < 10 ? max.toFixed(1) : Math.round(max)) + ")", 4, 11);
  if (values.length < 2) return;
  g.strokeStyle = "#0969da";
  g.lineWidth = 1.5;
  g.beginPath();
  let pen = false;
  values.forEach((v, i) => {
    const x = (i / (values.length - 1)) * (w - 2) + 1;
    if (v === null || v === undefined) { pen = false; return; }
    const y = h - 2 - (v / max) * (h - 16);
    if (pen) g.lineTo(x, y); else g.moveTo(x, y);
    pen = true;
  });
  g.stroke();
}

function poolCard(name) {
  let p = pools.get(name);
  if (p) return p;
  const node = $("#pool-tpl").content.firstElementChild.cloneNode(true);
  node.dataset.pool = name;
  $(".name", node).textContent = name;
  node.querySelectorAll("button[data-action]").forEach((b) => {
    b.addEventListener("click", () => post("/dashboard/pools/" + encodeURIComponent(name) +
      "/" + b.dataset.action, b));
  });
  $("#pools").appendChild(node);
  const opt = el("option", name);
  opt.value = name;
  $("#fpool").appendChild(opt);
  p = { el: node };
  pools.set(name, p);
  return p;
}

function renderPool(pool, history) {
  const node = poolCard(pool.name).el;
  const state = $(".state", node);
  state.textContent = pool.state;
  state.className = "state badge " + pool.state;
  $(".reason", node).textContent = pool.reason ? pool.reason + (pool.detail ? ": " + pool.detail : "") : "";
  const facts = $(".facts", node);
  facts.replaceChildren();
  const fact = (label, value) => {
    facts.append(label + " ", el("b", value), "  ");
  };
  fact("kind", pool.kind);
  fact("queue", pool.queue === null ? "–" : pool.queue);
  fact("requests", pool.requests);
  fact("Rapid-Fail", pool.rapid_fail + ", failures in window " + pool.failures.length);
  if (pool.retry_in_s !== null) fact("retry in", duration(pool.retry_in_s));
  const tbody = $(".workers tbody", node);
  tbody.replaceChildren();
  for (const w of pool.workers) {
    const tr = el("tr");
    tr.dataset.pid = w.pid;
    tr.append(el("td", w.pid > 0 ? w.pid : (w.address || "–"), "pid"), el("td", w.state),
      el("td", pool.uid === null ? "–" : pool.uid), el("td", duration(w.uptime_s)),
      el("td", w.requests, "requests"), el("td", bytes(w.private || w.rss)));
    tbody.appendChild(tr);
  }
  if (!pool.workers.length) {
    const tr = el("tr");
    const td = el("td", "no workers", "none");
    td.colSpan = 6;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
  const samples = history.samples.map((s) => s.pools[pool.name] || {});
  chart($("canvas.rps", node), samples.map((s) => (s.rps === undefined ? null : s.rps)), "req/s");
  chart($("canvas.p99", node), samples.map((s) => (s.p99_ms === undefined ? null : s.p99_ms)), "ms");
}

function render(data) {
  const st = data.status;
  $("#server").textContent = "weir " + st.version + " · master pid " + st.pid +
    " · up " + duration(st.uptime_s) + " · config generation " + st.generation;
  const live = $("#live");
  live.textContent = data.live ? "live figures" : "front end not answering";
  live.className = "badge " + (data.live ? "on" : "off");
  const seen = new Set();
  for (const pool of st.pools) {
    seen.add(pool.name);
    renderPool(pool, data.history);
  }
  for (const [name, p] of pools) {	// a pool a reload removed
    if (!seen.has(name)) {
      p.el.remove();
      pools.delete(name);
      const opt = $('#fpool option[value="' + CSS.escape(name) + '"]');
      if (opt) opt.remove();
    }
  }
}

async function poll() {
  if (polling) return;
  polling = true;
  try {
    const r = await fetch("/dashboard/data", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    if ($("#message").textContent.startsWith(STATUS_ERROR)) say("", false);	// it is back
  } catch (e) {
    say(STATUS_ERROR + e.message, true);
  } finally {
    polling = false;
  }
}

async function post(path, button) {
  if (button) button.disabled = true;
  try {
    const r = await fetch(path, { method: "POST", headers: { "X-Weir-CSRF": csrf } });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) say(path + ": " + (j.error || j.message || "HTTP " + r.status), true);
    else say(j.message || (path + ": done"), false);
  } catch (e) {
    say(path + ": " + e.message, true);
  } finally {
    if (button) button.disabled = false;
    poll();
  }
}

function addEvent(ev) {
  const tbody = $("#events");
  const tr = el("tr");
  tr.className = ev.level;
  tr.dataset.id = ev.id;
  if (ev.pid) tr.dataset.pid = ev.pid;
  const t = ev.time ? ev.time.replace(/^.*T/, "").replace(/Z$/, "") : "";
  tr.append(el("td", t), el("td", ev.id), el("td", ev.level), el("td", ev.pool || ""),
    el("td", ev.message));
  tr.title = ev.time || "";
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.childElementCount > MAX_EVENTS) tbody.lastElementChild.remove();
}

function follow() {
  if (source) source.close();
  $("#events").replaceChildren();
  const q = new URLSearchParams({ limit: "50" });
  if ($("#fpool").value) q.set("pool", $("#fpool").value);
  if ($("#flevel").value) q.set("level", $("#flevel").value);
  source = new EventSource("/dashboard/events?" + q);
  const badge = $("#sse");
  source.onopen = () => { badge.textContent = "following"; badge.className = "badge on"; };
  source.onerror = () => { badge.textContent = "reconnecting"; badge.className = "badge off"; };
  source.onmessage = (m) => {
    try {
      addEvent(JSON.parse(m.data));
    } catch (e) {
      say("an event that is not JSON: " + e.message, true);
    }
  };
}

$("#reload").addEventListener("click", (e) => post("/dashboard/reload", e.target));
$("#fpool").addEventListener("change", follow);
$("#flevel").addEventListener("change", follow);
poll();
setInterval(poll, POLL_MS);
follow();
