// Drives the dashboard in Debian's chromium with playwright-core and prints
// what a person would see, as JSON, for tests/test_dashboard.py to check.
//   node dashboard.mjs <base url> <screenshot path>
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = {};
// The test provokes a 401 (an expired token) on purpose; the browser logs that request.
const expectedError = (message) => /status of 401/.test(message.text());
try {
  // 1366 px: the narrowest common laptop screen; nothing may need sideways scrolling.
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  const sideways = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  // A Content-Security-Policy violation is reported as a console error.
  page.on("console", (message) => {
    if (message.type() === "error" && !expectedError(message)) problems.push(message.text());
  });

  async function signIn(email) {
    await page.fill("#sign-in input[name=email]", email);
    await page.fill("#sign-in input[name=password]", "demo-password");
    await page.click("#sign-in button[type=submit]");
  }

  await page.goto(`${base}/dashboard`);
  await signIn("host@demo.example");
  await page.waitForSelector("#sessions tbody tr");
  seen.signInHidden = await page.isHidden("#sign-in");
  seen.who = await page.textContent("#who");
  seen.totals = await page.$$eval("#totals .figure", (figures) => Object.fromEntries(
    figures.map((f) => [f.dataset.field, f.querySelector(".value").textContent])));
  // The views chart: one row per session, so no two titles overlap.
  seen.barLabels = await page.$$eval("#views-chart .label", (labels) => labels.map((l) => {
    const box = l.getBoundingClientRect();
    return { text: l.textContent, top: box.top, bottom: box.bottom, left: box.left, right: box.right };
  }));
  // The timeline, in the browser's time zone, then in another one picked.
  await page.waitForSelector("#timeline-chart canvas");
  seen.timelineNote = await page.textContent("#timeline-note");
  seen.timeZone = await page.inputValue("#tz-picker");
  await page.selectOption("#tz-picker", "Asia/Kolkata");
  await page.waitForFunction(() => document.querySelector("#timeline-note").textContent.includes("Asia/Kolkata"));
  await page.selectOption("#bucket-picker", "HOUR");
  await page.waitForFunction(() => document.querySelector("#timeline-note").textContent.includes("hours in Asia/Kolkata"));
  seen.timelineHours = await page.textContent("#timeline-note");
  await page.selectOption("#bucket-picker", "DAY");
  await page.selectOption("#tz-picker", "UTC");
  await page.waitForFunction(() => document.querySelector("#timeline-note").textContent.includes("days in UTC"));
  seen.rows = await page.$$eval("#sessions tbody tr", (rows) => rows.map((tr) =>
    Object.fromEntries([...tr.querySelectorAll("[data-field]")].map((td) => [td.dataset.field, td.textContent]))));
  seen.titleLines = await page.$$eval("#sessions tbody .title", (titles) => Math.max(...titles.map((t) =>
    Math.round(t.getBoundingClientRect().height / parseFloat(getComputedStyle(t).lineHeight)))));
  seen.sidewaysTable = await sideways();

  await page.click("#sessions tbody tr:has-text('Opening keynote')");
  await page.waitForSelector("#concurrency-chart canvas");
  await page.waitForSelector("#retention-chart canvas");
  await page.waitForSelector("#viewers tbody tr");
  seen.detail = {
    title: await page.textContent("#detail-title"),
    kind: await page.textContent("#detail-kind"),
    numbers: await page.textContent("#detail-numbers"),
    retention: await page.textContent("#retention-note"),
    concurrency: await page.textContent("#concurrency-note"),
    hash: await page.evaluate(() => location.hash),
    // Where the eye is: the detail's top is on screen after the click.
    top: await page.evaluate(() => document.querySelector("#detail").getBoundingClientRect().top),
    facts: await page.$$eval("#detail-facts dt", (dts) => dts.map((dt) => dt.textContent)),
    sideways: await sideways(),
  };
  // Every viewer, a page at a time, and searchable.
  seen.viewerCount = await page.textContent("#viewer-count");
  if (!(await page.isDisabled("#viewer-next"))) {
    const firstPage = await page.textContent("#viewers tbody tr:first-child");
    await page.click("#viewer-next");
    await page.waitForFunction((before) => document.querySelector("#viewers tbody tr:first-child")?.textContent !== before, firstPage);
    seen.viewerNext = await page.textContent("#viewer-count");
    await page.click("#viewer-previous");
    await page.waitForFunction(() => document.querySelector("#viewer-count").textContent.startsWith("1–"));
  }
  // An attendee's timeline: the first viewer of the session, clicked.
  await page.waitForSelector("#viewers tbody tr");
  seen.viewerRows = await page.$$eval("#viewers tbody tr", (rows) => rows.map((tr) =>
    Object.fromEntries([...tr.cells].map((td) => [td.dataset.field, td.textContent]))));
  await page.click("#viewers tbody tr:first-child");
  await page.waitForSelector("#attendee:not([hidden])");
  seen.attendee = {
    name: await page.textContent("#attendee-name"),
    summary: await page.textContent("#attendee-summary"),
    intervals: await page.$$eval("#attendee-intervals li", (items) => items.map((li) => li.textContent)),
  };
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.setViewportSize({ width: 1920, height: 1080 });
  seen.sideways1920 = await sideways();
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-1920.png"), fullPage: true });
  await page.setViewportSize({ width: 1366, height: 900 });
  const everyone = await page.textContent("#viewer-count");
  await page.fill("#viewer-search", "Viewer 1");
  await page.waitForFunction((all) => document.querySelector("#viewer-count").textContent !== all, everyone);
  seen.viewerSearched = {
    count: await page.textContent("#viewer-count"),
    names: await page.$$eval("#viewers tbody td[data-field=name]", (tds) => tds.map((td) => td.textContent)),
  };
  // The back button closes the detail (the address said which session it was).
  await page.goBack();
  await page.waitForSelector("#detail", { state: "hidden" });
  seen.afterBack = await page.evaluate(() => location.hash);

  // Search narrows the table; sorting by live views puts the most viewed first.
  await page.fill("#search", "keynote");
  await page.waitForFunction(() => document.querySelectorAll("#sessions tbody tr").length === 2);
  seen.searched = await page.$$eval("#sessions tbody tr .title", (tds) => tds.map((td) => td.textContent));
  await page.fill("#search", "");
  await page.click("th button[data-sort=LIVE_VIEWS_DESC]");
  await page.waitForFunction(() => document.querySelector("th button[data-sort=LIVE_VIEWS_DESC]").classList.contains("active"));
  await page.waitForFunction(() => document.querySelectorAll("#sessions tbody tr").length === 20);
  seen.byLiveViews = await page.$$eval("#sessions tbody tr td[data-field=liveViews]", (tds) => tds.map((td) => td.textContent));

  // A live session follows its numbers: a viewer's heartbeats arrive over the
  // API while the page is open, and the subscription brings them in.
  await page.fill("#search", "Live now");
  await page.waitForFunction(() => document.querySelectorAll("#sessions tbody tr").length === 1);
  await page.click("#sessions tbody tr:has-text('Live now')");
  await page.waitForFunction(() => document.querySelector("#detail-title").textContent === "Live now");
  seen.liveBefore = await page.textContent("#detail-numbers");
  const liveRow = () => page.textContent("#sessions tbody tr.selected td[data-field=liveViews]");
  const liveCard = () => page.textContent("#totals .figure[data-field=liveViews] .value");
  seen.rowBefore = await liveRow();
  seen.cardBefore = await liveCard();
  const record = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.VIEWER_TOKEN}` },
    body: JSON.stringify({
      query: "mutation($s: ID!) { recordWatch(segments: [{sessionId: $s, mode: LIVE, startSecond: 0, endSecond: 45}]) { accepted } }",
      variables: { s: process.env.LIVE_SESSION_ID },
    }),
  });
  seen.recorded = (await record.json()).data?.recordWatch?.accepted;
  await page.waitForFunction(() => document.querySelector("#detail-numbers").textContent.startsWith("2 live views"), null, { timeout: 15000 });
  seen.liveAfter = await page.textContent("#detail-numbers");
  // The row and the headline cards move with the detail.
  await page.waitForFunction(() => document.querySelector("#sessions tbody tr.selected td[data-field=liveViews]")?.textContent === "2",
    null, { timeout: 15000 });
  seen.rowAfter = await liveRow();
  seen.cardAfter = await liveCard();

  // Webhooks: a private address is refused in words; a public one is added with
  // its secret shown once; an event report is queued and listed as pending.
  const rowOf = (tr) => Object.fromEntries([...tr.cells].map((td) => [td.dataset.field, td.textContent]));
  await page.fill("#webhook-form input[name=url]", "http://10.0.0.1/hook");
  await page.click("#webhook-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#message").textContent.includes("private"));
  seen.webhookRefused = await page.textContent("#message");
  await page.fill("#webhook-form input[name=url]", "https://93.184.216.34/hooks");
  await page.click("#webhook-form button[type=submit]");
  await page.waitForSelector("#webhook-endpoints tbody tr");
  seen.webhookSecret = await page.textContent("#webhook-secret code");
  seen.webhookRow = await page.$eval("#webhook-endpoints tbody tr", rowOf);
  await page.click("#request-report");
  await page.waitForFunction(() => document.querySelector("#message").textContent.includes("on its way"));
  seen.reportMessage = await page.textContent("#message");
  await page.click("#webhook-endpoints tbody tr button:has-text('Deliveries')");
  await page.waitForSelector("#webhook-deliveries tbody tr");
  seen.deliveriesTitle = await page.textContent("#deliveries-title");
  seen.delivery = await page.$eval("#webhook-deliveries tbody tr", rowOf);

  // Errors in words: an expired token, then someone who hosts nothing.
  await page.evaluate(() => sessionStorage.setItem("token", "expired-token"));
  await page.reload();
  await page.waitForSelector("#message:not([hidden])");
  seen.expired = await page.textContent("#message");
  await signIn("viewer00001@demo.example");
  await page.waitForFunction(() => document.querySelector("#message").textContent.includes("host"));
  seen.notHost = await page.textContent("#message");
  seen.problems = problems;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
