// Four real applications on one weir, in headless Chromium (puppeteer-core,
// the system's browser).  Run by tests/apps_e2e/test_four_apps.py, which
// starts MariaDB and weir, installs the applications and reads the JSON
// report this prints as its last line on stdout:
//   { flows: {wordpress, mediawiki, django, node: "ok" | error},
//     failures: [...], js_errors: [...], recycles, kills, killed_pid, notes,
//     outside: {origin: requests not made (only *.test resolves)} }
// failures: every response >= 500 and every request the network layer
// failed (other than ones a navigation aborted), on any page and resource.
// While the WordPress flow and the ones after it run, the wp pool is
// recycled every 2 s through the admin API (POST /pools/wp/recycle); once
// the post is published one idle php-cgi of the pool is SIGKILLed (its pid
// from this weir's own status) and the post is read again at once.
// Environment: CHROMIUM, WEIR_ADMIN, WEIR_TOKEN, PORT, SHOTS (screenshot
// directory), IMAGE (the PNG to upload), WP_HOST, WIKI_HOST, DJ_HOST,
// NODE_HOST, DJ_PASS.  Every wait has a deadline.
import puppeteer from "puppeteer-core";

const env = process.env;
const admin = env.WEIR_ADMIN;
const auth = { Authorization: "Bearer " + env.WEIR_TOKEN };
const url = (host, path) => "http://" + host + ":" + env.PORT + path;
const report = { flows: {}, failures: [], js_errors: [], recycles: 0, kills: 0, notes: [],
  outside: {} };
let browser;
const ours = (u) => /^http:\/\/[a-z0-9-]+\.test:\d+\//.test(u) && u.includes(":" + env.PORT + "/");
const pages = {};     // each flow's page, for a screenshot when it fails

function finish(code) {
  process.stdout.write(JSON.stringify(report) + "\n");
  const done = browser ? browser.close().catch(() => {}) : Promise.resolve();
  done.then(() => process.exit(code));
}

// The pool wp recycled every 2 s until stopped; each accepted request counts.
function recycler() {
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const r = await fetch(admin + "/pools/wp/recycle", { method: "POST", headers: auth });
      if (r.status === 200) report.recycles++;
      else report.notes.push("recycle: " + r.status + " " + (await r.text()));
      for (let i = 0; i < 20 && !stop; i++) await new Promise((res) => setTimeout(res, 100));
    }
  })();
  return async () => { stop = true; await loop; };
}

// SIGKILL a ready worker of wp while the pool has no request in flight
// (a POST a worker dies in is lost, by design: only idempotent requests are
// retried; the browser is idle on a public page here), then read the post.
async function killOne(page) {
  // nothing of the browser's in flight (a page's unload beacons included) for
  // 1 s, so the pool's figures (reported every 500 ms) are current
  await quiet(page, 1000);
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const p = await (await fetch(admin + "/pools/wp", { headers: auth })).json();
    const ready = p.workers.filter((x) => x.state === "ready" && x.pid > 0);
    if (p.inflight === 0 && ready.length > 0) {
      process.kill(ready[0].pid, "SIGKILL");
      report.kills++;
      report.killed_pid = ready[0].pid;
      return;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("no idle ready worker in pool wp to kill");
}

// Wait until none of the page's requests to this weir has been in flight
// for ms (requests elsewhere, which fail here, do not count).
async function quiet(page, ms) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (page.weirInflight.size === 0 && Date.now() - page.weirLast >= ms) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error("the page's requests to weir never stopped for " + ms + " ms: " +
    [...page.weirInflight].map((r) => r.method() + " " + r.url()).join(", "));
}

async function newPage(name) {
  const page = await browser.newPage();
  page.weirInflight = new Set();
  page.weirLast = Date.now();
  const track = (r, add) => {
    if (!ours(r.url())) return;
    if (add) page.weirInflight.add(r);
    else page.weirInflight.delete(r);
    page.weirLast = Date.now();
  };
  page.on("request", (r) => track(r, true));
  page.on("requestfinished", (r) => track(r, false));
  page.on("requestfailed", (r) => track(r, false));
  // the requests of a document the page left get no event of their end
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame())
      for (const r of page.weirInflight) if (!r.isNavigationRequest()) page.weirInflight.delete(r);
  });
  await page.setViewport({ width: 1280, height: 900 });
  page.setDefaultTimeout(30000);
  page.on("pageerror", (e) => report.js_errors.push(name + ": " + e.message));
  // Only this weir's answers count: the pages also link out (WordPress's
  // Gravatar images), which this machine cannot reach: noted, not failed.
  page.on("response", async (r) => {
    if (r.status() < 500) return;
    let text = "";
    try { text = (await r.text()).replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").slice(0, 300); } catch (e) { /* a body already gone */ }
    report.failures.push(name + ": " + r.status() + " " + r.request().method() + " " + r.url() + " " + text);
  });
  pages[name] = page;
  page.on("requestfailed", (r) => {
    const why = r.failure() ? r.failure().errorText : "?";
    if (!ours(r.url())) {
      const o = new URL(r.url()).origin;
      report.outside[o] = (report.outside[o] || 0) + 1;
    }
    else if (why !== "net::ERR_ABORTED") report.failures.push(name + ": " + why + " " + r.url());
  });
  return page;
}

// Navigate (or act, then wait for the navigation) and require a 2xx/3xx.
async function go(page, what, action) {
  const [resp] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load", timeout: 60000 }),
    action,
  ]);
  if (!resp || resp.status() >= 400) throw new Error(what + ": " + (resp ? resp.status() : "no response") + " " + page.url());
  return resp;
}
const open = (page, u) => go(page, "GET " + u, page.goto(u, { waitUntil: "load", timeout: 60000 }).then(() => {}));

async function typeInto(page, sel, text) {
  await page.waitForSelector(sel, { visible: true });
  await page.$eval(sel, (e) => { e.value = ""; });
  await page.type(sel, text);
}

async function wordpress() {
  const page = await newPage("wordpress");
  const wp = (p) => url(env.WP_HOST, p);
  // 1. the install wizard (the language step appears only with translations)
  await open(page, wp("/wp-admin/install.php"));
  if (await page.$("#language-continue")) await go(page, "language", page.click("#language-continue"));
  await typeInto(page, "#weblog_title", "weir blog");
  await typeInto(page, "#user_login", "admin");
  await typeInto(page, "#pass1", "Weir-wp-Pass-2026-long!");
  await typeInto(page, "#admin_email", "admin@example.test");
  await go(page, "install", page.click("#submit"));
  if (!(await page.content()).includes("Success!")) throw new Error("install: no Success! " + page.url());
  // 2. log in
  await open(page, wp("/wp-login.php"));
  // wp-login.php moves the focus to (and selects) the user name 200 ms after
  // load: typing before that would land in the wrong field
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === "user_login",
    { timeout: 5000 });
  await typeInto(page, "#user_login", "admin");
  await typeInto(page, "#user_pass", "Weir-wp-Pass-2026-long!");
  await go(page, "login", page.click("#wp-submit"));
  if (!page.url().includes("/wp-admin/")) throw new Error("login: at " + page.url());
  // 3. pretty permalinks: Settings > Permalinks > Post name (docs/php.md)
  await open(page, wp("/wp-admin/options-permalink.php"));
  await page.click('input[name="selection"][value="/%postname%/"]');
  await go(page, "permalinks", page.click("#submit"));
  // 4. an image, uploaded from a form of the browser
  await open(page, wp("/wp-admin/media-new.php?browser-uploader"));
  const input = await page.waitForSelector("#async-upload");
  await input.uploadFile(env.IMAGE);
  await go(page, "upload", page.click("#html-upload"));
  await open(page, wp("/wp-admin/upload.php?mode=list"));
  const id = await page.$eval("#the-list tr[id^=post-]", (tr) => tr.id.slice(5));
  await open(page, wp("/wp-admin/post.php?post=" + id + "&action=edit"));
  const imgUrl = await page.$eval("#attachment_url", (e) => e.value);
  if (!imgUrl.includes("/wp-content/uploads/")) throw new Error("upload: " + imgUrl);
  // 5. a post with the image, published
  await open(page, wp("/wp-admin/post-new.php"));
  await typeInto(page, "#title", "Four apps on weir");
  await page.click("#content-html");
  await typeInto(page, "#content", '<p>Served by weir.</p>\n<img class="weir-test" src="' + imgUrl + '" alt="weir test image" />');
  // post.js refuses the submit while an autosave runs (the buttons are
  // "disabled" then; it rewrites the URL in place on the click): see whether
  // the form was submitted, and click again when it was not
  let done = false;
  for (let i = 0; i < 5 && !done; i++) {
    await page.waitForFunction(() => {
      const b = document.querySelector("#publish");
      return b && !b.classList.contains("disabled") &&
        !document.querySelector("#publishing-action .spinner.is-active");
    }, { timeout: 30000 });
    await page.evaluate(() => {
      window.weirSubmitted = null;
      document.querySelector("form#post").addEventListener("submit", (e) => {
        window.weirSubmitted = !e.defaultPrevented;     // after post.js's own handler
      }, { once: true });
    });
    // (the URL rewrite is a navigation of its own for puppeteer: wait for
    // the form's POST and then for the saved post's page)
    const posted = page.waitForResponse((r) => r.request().method() === "POST" &&
      new URL(r.url()).pathname === "/wp-admin/post.php", { timeout: 60000 });
    await page.click("#publish");
    const submitted = await page.evaluate(() => window.weirSubmitted).catch(() => true);
    if (submitted !== true) {
      posted.catch(() => {});
      report.notes.push("publish: click " + (i + 1) + " refused by post.js");
      continue;
    }
    const resp = await posted;
    if (resp.status() !== 302) throw new Error("publish: POST answered " + resp.status());
    await page.waitForFunction(() => /\/wp-admin\/post\.php\?post=\d+&action=edit/.test(location.href) &&
      document.readyState === "complete" && document.querySelector("#original_post_status"),
    { timeout: 60000 });
    done = await page.$eval("#original_post_status", (e) => e.value === "publish");
  }
  if (!done) throw new Error("publish: the post was not saved");
  const permalink = await page.$eval("#sample-permalink a", (a) => a.href);
  if (!/\/four-apps-on-weir\/$/.test(permalink)) throw new Error("not a pretty permalink: " + permalink);
  // 6. the post at its pretty permalink, the image loaded; a worker killed,
  //    the post read again at once
  const view = async () => {
    await open(page, permalink);
    await page.waitForFunction(() => {
      const i = document.querySelector("img.weir-test");
      return i && i.complete && i.naturalWidth === 320;
    }, { timeout: 10000 });
    if (!(await page.content()).includes("Served by weir.")) throw new Error("post body missing");
  };
  await view();
  await killOne(page);
  await view();
  await open(page, wp("/"));
  await view();
  await page.screenshot({ path: env.SHOTS + "/wp.png", fullPage: false });
  report.permalink = permalink;
  await page.close();
}

async function mediawiki() {
  const page = await newPage("mediawiki");
  const mw = (p) => url(env.WIKI_HOST, p);
  const title = "Weir_test_page";
  const edit = async (text) => {
    await open(page, mw("/index.php?title=" + title + "&action=edit"));
    await typeInto(page, "#wpTextbox1", text);
    await go(page, "save", page.click("#wpSave"));
  };
  await edit("Hello from '''weir''', the first version.");
  await edit("Hello from '''weir''', edited in the browser.");
  await open(page, mw("/index.php?title=" + title));
  const body = await page.$eval("#mw-content-text", (e) => e.textContent);
  if (!body.includes("edited in the browser")) throw new Error("page text: " + body.slice(0, 200));
  // the logo and the skin: static files under symbolic links out of the root
  const logo = await page.evaluate(async () => (await fetch("/resources/assets/change-your-logo.svg")).status);
  if (logo !== 200) throw new Error("logo through /var/lib/mediawiki/resources: " + logo);
  await page.screenshot({ path: env.SHOTS + "/wiki.png" });
  await page.close();
}

async function django() {
  const page = await newPage("django");
  const dj = (p) => url(env.DJ_HOST, p);
  let css = 0;
  page.on("response", (r) => { if (r.url().includes("/static/admin/css/") && r.status() === 200) css++; });
  await open(page, dj("/admin/"));
  if (!page.url().includes("/admin/login/")) throw new Error("no login page: " + page.url());
  await typeInto(page, "#id_username", "admin");
  await typeInto(page, "#id_password", env.DJ_PASS);
  await go(page, "admin login", page.click('input[type="submit"]'));
  const h = await page.$eval("#content h1", (e) => e.textContent);
  if (h !== "Site administration") throw new Error("admin: " + h);
  if (css === 0) throw new Error("no admin CSS from /static (alias)");
  await page.screenshot({ path: env.SHOTS + "/dj.png" });
  await page.close();
}

async function node() {
  const page = await newPage("node");
  await open(page, url(env.NODE_HOST, "/hello"));
  const t = await page.$eval("#who", (e) => e.textContent);
  if (!/^pid \d+, path \/hello$/.test(t)) throw new Error("node: " + t);
  await page.screenshot({ path: env.SHOTS + "/node.png" });
  await page.close();
}

async function main() {
  browser = await puppeteer.launch({
    executablePath: env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: (process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : []).concat([
      "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
      // the sites by name on loopback; no other name resolves (no network
      // but loopback: WordPress's pages link Gravatar images, for one)
      "--host-resolver-rules=MAP *.test 127.0.0.1, MAP * ~NOTFOUND", "--no-proxy-server"]),
  });
  const stopRecycling = recycler();
  let ok = true;
  for (const [name, flow] of [["wordpress", wordpress], ["mediawiki", mediawiki],
    ["django", django], ["node", node]]) {
    try {
      await flow();
      report.flows[name] = "ok";
    } catch (e) {
      ok = false;
      report.flows[name] = String(e && e.stack || e);
      if (pages[name]) {
        report.flows[name] += " (at " + pages[name].url() + ", " + env.SHOTS + "/" + name + "-failed.png)";
        await pages[name].screenshot({ path: env.SHOTS + "/" + name + "-failed.png" }).catch(() => {});
      }
    }
  }
  await stopRecycling();
  finish(ok && report.failures.length === 0 ? 0 : 1);
}

main().catch((e) => { report.error = String(e && e.stack || e); finish(1); });
