// Opens GraphiQL (GET /graphql in a browser) in Debian's chromium under the
// server's own Content-Security-Policy, with every request to anything but the
// server refused (as offline, or behind a firewall), runs a query, and prints
// what it saw as JSON for tests/test_dashboard.py. The server serves GraphiQL's
// assets itself (gql_server/static/vendor/unpkg/).
//   node graphiql.mjs <base url>
import { chromium } from "playwright-core";

const [base] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = { problems: [], outside: [], assets: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on("pageerror", (error) => seen.problems.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") seen.problems.push(message.text());
  });
  await page.route("**/*", async (route) => {
    const url = route.request().url();
    if (!url.startsWith(base)) {
      seen.outside.push(url);
      return route.abort("internetdisconnected");
    }
    if (url.includes("/static/vendor/")) seen.assets.push(new URL(url).pathname);
    return route.continue();
  });
  const response = await page.goto(`${base}/graphql`);
  seen.csp = response.headers()["content-security-policy"];
  await page.waitForSelector(".graphiql-container .CodeMirror, .graphiql-container .cm-editor",
    { timeout: 30000 });
  // Type a query into the editor and run it.
  await page.evaluate(() => {
    const editor = document.querySelector(".graphiql-query-editor .CodeMirror");
    editor.CodeMirror.setValue("{ __typename }");
  });
  await page.click(".graphiql-execute-button");
  await page.waitForFunction(() =>
    document.querySelector(".result-window")?.textContent.includes("Query"), null,
    { timeout: 30000 });
  seen.result = await page.textContent(".result-window");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
