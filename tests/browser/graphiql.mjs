// Opens GraphiQL (GET /graphql in a browser) in Debian's chromium under the
// server's own Content-Security-Policy, runs a query, and prints what it saw
// as JSON for tests/test_dashboard.py. There is no network here: the page's
// unpkg.com assets are answered from the same pinned npm packages
// (package-lock.json), byte for byte, so their integrity hashes still hold.
//   node graphiql.mjs <base url>
import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const [base] = process.argv.slice(2);
const UNPKG = {
  "react@18.2.0/umd/react.production.min.js": "react/umd/react.production.min.js",
  "react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
  "js-cookie@3.0.5/dist/js.cookie.min.js": "js-cookie/dist/js.cookie.min.js",
  "graphiql@3.8.3/graphiql.min.css": "graphiql/graphiql.min.css",
  "graphiql@3.8.3/graphiql.min.js": "graphiql/graphiql.min.js",
  "@graphiql/plugin-explorer@1.0.2/dist/style.css": "@graphiql/plugin-explorer/dist/style.css",
  "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "@graphiql/plugin-explorer/dist/index.umd.js",
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = { problems: [], unknownAssets: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on("pageerror", (error) => seen.problems.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") seen.problems.push(message.text());
  });
  await page.route("https://unpkg.com/**", async (route) => {
    const path = new URL(route.request().url()).pathname.slice(1);
    const file = UNPKG[path];
    if (!file) {
      seen.unknownAssets.push(path);
      return route.abort();
    }
    const type = path.endsWith(".css") ? "text/css" : "application/javascript";
    await route.fulfill({
      body: await readFile(new URL(`node_modules/${file}`, import.meta.url)),
      contentType: type,
      headers: { "access-control-allow-origin": "*" },
    });
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
