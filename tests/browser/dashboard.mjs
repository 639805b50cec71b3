// Drive weir's dashboard in headless Chromium (puppeteer-core, the system's
// browser).  Run by tests/integration/test_dashboard.py, which starts the
// weir and reads the JSON report this prints on stdout:
//   { pools_seen, recycle: {old, new, ms}, kill: {pid, ms}, filter_ok,
//     refused: {...statuses}, js_errors: [...], screenshot }
// Environment: WEIR_ADMIN (http://127.0.0.1:PORT, the TCP admin listener),
// WEIR_TOKEN, WEIR_POOLS (comma-separated), RECYCLE_POOL, KILL_POOL,
// SHOT (screenshot path), CHROMIUM (default /usr/bin/chromium).
// Every wait has a deadline; any failure exits 1 with the report so far.
import puppeteer from "puppeteer-core";

const base = process.env.WEIR_ADMIN;
const token = process.env.WEIR_TOKEN;
const poolNames = process.env.WEIR_POOLS.split(",");
const recyclePool = process.env.RECYCLE_POOL;
const killPool = process.env.KILL_POOL;
const report = { js_errors: [], refused: {} };
let browser;

function finish(code, why) {
  if (why) report.failure = why;
  process.stdout.write(JSON.stringify(report) + "\n");
  const done = browser ? browser.close().catch(() => {}) : Promise.resolve();
  done.then(() => process.exit(code));
}

// The pid of a ready worker of POOL, from this weir's own status (bearer token).
async function readyPid(pool) {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const r = await fetch(base + "/pools/" + pool, { headers: { Authorization: "Bearer " + token } });
    const j = await r.json();
    const w = j.workers.find((x) => x.state === "ready" && x.pid > 0);
    if (w) return w.pid;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("no ready worker in pool " + pool);
}

async function main() {
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: (process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [])
      .concat(["--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"]),
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  page.on("pageerror", (e) => report.js_errors.push("pageerror: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error") report.js_errors.push("console: " + m.text());
  });
  page.on("requestfailed", (r) => {
    // the event stream is cut when the page goes away or the filter changes
    if (!r.url().includes("/dashboard/events"))
      report.js_errors.push("request failed: " + r.url() + " " + r.failure().errorText);
  });

  // 1. the token becomes the page's cookie; the page shows every pool
  const resp = await page.goto(base + "/dashboard?token=" + encodeURIComponent(token),
    { waitUntil: "domcontentloaded", timeout: 10000 });
  if (resp.status() !== 200) throw new Error("GET /dashboard: " + resp.status());
  if (page.url() !== base + "/dashboard") throw new Error("not redirected: " + page.url());
  await page.waitForFunction((names, busy) => names.every((n) =>
    document.querySelector('article.pool[data-pool="' + n + '"]')) && busy.every((n) =>
    document.querySelector('article.pool[data-pool="' + n + '"] tr[data-pid]')),
    { timeout: 5000 }, poolNames, [recyclePool, killPool]);
  report.pools_seen = await page.$$eval("article.pool", (as) => as.map((a) => a.dataset.pool));
  await page.waitForFunction(() => document.querySelector("#sse").textContent === "following",
    { timeout: 5000 });

  // 2. recycle from the page: a new worker pid on it within 2 s
  const card = 'article.pool[data-pool="' + recyclePool + '"]';
  const oldPid = await page.$eval(card + " tr[data-pid]", (tr) => tr.dataset.pid);
  let t0 = Date.now();
  await page.click(card + ' button[data-action="recycle"]');
  await page.waitForFunction((sel, old) =>
    [...document.querySelectorAll(sel + " tr[data-pid]")].some((tr) => tr.dataset.pid !== old),
    { timeout: 2000, polling: 20 }, card, oldPid);
  report.recycle = {
    old: Number(oldPid),
    new: Number(await page.$$eval(card + " tr[data-pid]", (trs, old) =>
      trs.map((t) => t.dataset.pid).find((p) => p !== old), oldPid)),
    ms: Date.now() - t0,
  };

  // 3. a worker killed from outside: its 1009 in the event pane within 1 s
  const pid = await readyPid(killPool);
  t0 = Date.now();
  process.kill(pid, "SIGKILL");
  await page.waitForSelector('#events tr[data-id="1009"][data-pid="' + pid + '"]',
    { timeout: 1000, polling: 10 });
  report.kill = { pid, ms: Date.now() - t0 };

  // 4. the filters: only the kill pool's warnings and errors
  await page.select("#fpool", killPool);
  await page.select("#flevel", "warning");
  await page.waitForFunction((pool, pid) => {
    const rows = [...document.querySelectorAll("#events tr")];
    return rows.length > 0 && rows.some((r) => r.dataset.pid === String(pid)) &&
      rows.every((r) => r.children[3].textContent === pool &&
        (r.className === "warning" || r.className === "error"));
  }, { timeout: 3000 }, killPool, pid);
  report.filter_ok = true;

  // 5. refused: no token (TCP), a POST without the page's CSRF token, a POST
  //    from another origin; the page's token and origin are honoured
  const csrf = await page.$eval('meta[name="weir-csrf"]', (m) => m.content);
  const cookie = "weir_admin=" + token;
  const action = base + "/dashboard/pools/" + recyclePool + "/recycle";
  const st = async (url, init) => (await fetch(url, init)).status;
  report.refused.no_token_page = await st(base + "/dashboard");
  report.refused.no_token_data = await st(base + "/dashboard/data");
  report.refused.wrong_cookie = await st(base + "/dashboard/data", { headers: { Cookie: "weir_admin=x" + token } });
  report.refused.no_csrf = await st(action, { method: "POST", headers: { Cookie: cookie, Origin: base } });
  report.refused.wrong_csrf = await st(action, { method: "POST",
    headers: { Cookie: cookie, Origin: base, "X-Weir-CSRF": "0".repeat(32) } });
  report.refused.other_origin = await st(action, { method: "POST",
    headers: { Cookie: cookie, Origin: "http://evil.example", "X-Weir-CSRF": csrf } });
  report.refused.api_from_page = await st(base + "/pools/" + recyclePool + "/recycle", { method: "POST",
    headers: { Authorization: "Bearer " + token, Origin: "http://evil.example" } });
  report.accepted = await st(action, { method: "POST",
    headers: { Cookie: cookie, Origin: base, "X-Weir-CSRF": csrf } });

  // 6. back to all events for the picture, and a moment for the charts' poll
  await page.select("#fpool", "");
  await page.select("#flevel", "");
  await page.waitForFunction(() => document.querySelectorAll("#events tr").length > 0, { timeout: 3000 });
  if (process.env.SHOT) {
    await page.screenshot({ path: process.env.SHOT, fullPage: true });
    report.screenshot = process.env.SHOT;
  }
  finish(0);
}

main().catch((e) => finish(1, String(e && e.stack || e)));
