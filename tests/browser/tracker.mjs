// Drives the attendee's watch page (/watch/{id}) and its tracker in Debian's
// chromium with a real media element, and prints what it saw as JSON for
// tests/test_tracker.py: the played ranges read from media.played, the
// tracker's state, and the API's numbers at each step.
//   node tracker.mjs <base url>   (env: SESSIONS = JSON of ids, VIEWER and HOST tokens)
import { chromium } from "playwright-core";

const [base] = process.argv.slice(2);
const ids = JSON.parse(process.env.SESSIONS);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required"],
});
const seen = { problems: [] };
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function api(query, variables, token) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()).data;
}

const VIEWER_ROW = `query($s: ID!, $e: ID!) { event(id: $e) { session(id: $s) {
  viewers(first: 5) { nodes { liveWatchedSeconds recordingWatchedSeconds liveView recordingView } }
  attendeeCount } } }`;
async function numbers(session) {
  const data = await api(VIEWER_ROW, { s: session, e: ids.event }, process.env.HOST);
  return data.event.session.viewers.nodes[0] ?? null;
}

async function watchPage(session, { token = process.env.VIEWER } = {}) {
  const context = await browser.newContext();
  await context.addInitScript((t) => { if (location.protocol.startsWith("http")) sessionStorage.setItem("token", t); }, token);
  const page = await context.newPage();
  page.on("pageerror", (error) => seen.problems.push(String(error)));
  // The 503s of the outage step are provoked on purpose; the browser logs them.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 503/.test(m.text())) seen.problems.push(m.text());
  });
  await page.goto(`${base}/watch/${session}`);
  await page.waitForFunction(() => window.watchTracker && document.querySelector("#media").readyState >= 1);
  return page;
}

// Play from `from` (seconds) at `rate` until currentTime reaches `to`, then pause.
async function play(page, from, to, rate) {
  await page.evaluate(async ([from, to, rate]) => {
    const media = document.querySelector("#media");
    media.playbackRate = rate;
    if (from !== null) {
      media.currentTime = from;
      await new Promise((done) => media.addEventListener("seeked", done, { once: true }));
    }
    await media.play();
    await new Promise((done) => {
      const check = () => {
        if (media.currentTime >= to || media.ended) { media.pause(); done(); }
        else requestAnimationFrame(check);
      };
      check();
    });
  }, [from, to, rate]);
}

const played = (page) => page.evaluate(() => {
  const ranges = document.querySelector("#media").played;
  return Array.from({ length: ranges.length }, (_, i) => [ranges.start(i), ranges.end(i)]);
});
const flush = (page) => page.evaluate(() => window.watchTracker.flush());
const state = (page) => page.evaluate(() => window.watchTracker.state());

try {
  // 1. A 40 s clip: 4x speed, pause, seek back, rewatch, seek forward; 29 s, then 30 s.
  let page = await watchPage(ids.clip40);
  seen.mode40 = await page.inputValue("#mode");
  await play(page, 0, 12, 4);
  await play(page, 5, 15, 4);
  await play(page, 25, 39.3, 4);
  await flush(page);
  seen.at29 = { played: await played(page), api: await numbers(ids.clip40) };
  await play(page, null, 40, 4); // on to the end
  await flush(page);
  seen.at30 = { played: await played(page), api: await numbers(ids.clip40) };
  await page.context().close();

  // 2. A 20 s clip counts a view only when watched whole.
  page = await watchPage(ids.clip20);
  await play(page, 0, 19.4, 2);
  await flush(page);
  seen.short = { played: await played(page), api: await numbers(ids.clip20) };
  await play(page, null, 20, 2);
  await flush(page);
  seen.whole = { played: await played(page), api: await numbers(ids.clip20) };
  await page.context().close();

  // 3. Leaving the page mid-way: the tail arrives with the keepalive flush.
  page = await watchPage(ids.tail);
  await play(page, 0, 9, 4);
  seen.tail = { played: await played(page), before: await state(page) };
  await page.goto("about:blank");
  await sleep(1500);
  seen.tail.api = await numbers(ids.tail);
  await page.context().close();

  // 4. The server answers 503 for a while: the tracker keeps the seconds and retries.
  await fetch(`${base}/__test/gate/close`, { method: "POST" });
  page = await watchPage(ids.outage);
  await play(page, 0, 8, 4);
  await flush(page); // answered 503
  await sleep(3500);
  seen.outage = { during: await state(page) };
  await fetch(`${base}/__test/gate/open`, { method: "POST" });
  await page.waitForFunction(() => {
    const { watched, acknowledged } = window.watchTracker.state();
    return JSON.stringify(watched) === JSON.stringify(acknowledged);
  }, null, { timeout: 90000 });
  seen.outage.played = await played(page);
  seen.outage.api = await numbers(ids.outage);
  seen.outage.refused = await (await fetch(`${base}/__test/gate`)).json();
  await page.context().close();

  // 5. Live, next to the host's dashboard: positions follow the stream's clock,
  // and the host sees the attendance move over the subscription.
  const host = await browser.newContext();
  await host.addInitScript((t) => { if (location.protocol.startsWith("http")) sessionStorage.setItem("token", t); }, process.env.HOST);
  const dashboard = await host.newPage();
  await dashboard.goto(`${base}/dashboard`);
  await dashboard.waitForSelector("#sessions tbody tr");
  await dashboard.fill("#search", "Live clip");
  await dashboard.waitForFunction(() => document.querySelectorAll("#sessions tbody tr").length === 1);
  await dashboard.click("#sessions tbody tr:has-text('Live clip')");
  await dashboard.waitForFunction(() => document.querySelector("#detail-title").textContent === "Live clip");
  seen.hostBefore = await dashboard.textContent("#detail-numbers");
  page = await watchPage(ids.live);
  seen.liveMode = await page.inputValue("#mode");
  const began = Date.now();
  await play(page, null, 3.6, 1);
  const ended = Date.now();
  await flush(page);
  seen.live = { state: await state(page), api: await numbers(ids.live), began, ended };
  await dashboard.waitForFunction(() => document.querySelector("#detail-numbers").textContent.includes("1 attended"),
    null, { timeout: 15000 });
  seen.hostAfter = await dashboard.textContent("#detail-numbers");

  // 6. Signing out of the watch page: the token is revoked and forgotten, the form is back.
  page = await watchPage(ids.clip20, { token: process.env.SPARE });
  await page.click("#sign-out");
  await page.waitForSelector("#sign-in:not([hidden])");
  const me = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.SPARE}` },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
  seen.signedOut = {
    stored: await page.evaluate(() => sessionStorage.getItem("token")),
    player: await page.isHidden("#player"),
    status: me.status,
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
