// The review console in a real headless Chromium, as a reviewer uses it: sign in, find the case in the inbox,
// open it, see its images load, give a verdict. Run by tests/test_console_browser.py, which makes the case and
// checks the verdict through the API afterwards.
//
//   node tests/browser/review_console.mjs BASE_URL REVIEWER_KEY CASE_ID SCREENSHOT_PNG [CHROMIUM]
//
// Prints one JSON line with what the page showed; exits non-zero (with the reason) when a step fails.

import { chromium } from "playwright-core";

const [baseUrl, key, caseId, screenshot, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const STEP_TIMEOUT_MS = 20000;
// No call home and no background traffic: this machine's network is closed, and a test should not depend on it.
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];

const browser = await chromium.launch({ executablePath, headless: true, args: FLAGS });
const seen = { pageErrors: [], failedRequests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (err) => seen.pageErrors.push(String(err)));
  page.on("requestfailed", (req) => seen.failedRequests.push(`${req.method()} ${req.url().split("?")[0]}`));

  // Sign in with the reviewer's key; the page learns the reviewer's name from the API.
  await page.goto(`${baseUrl}/console/`);
  await page.fill("#sign-in-key", key);
  await page.click("#sign-in-form button[type=submit]");
  await page.locator("#session").waitFor({ state: "visible" });
  seen.signedInAs = (await page.textContent("#session-name")).trim();

  // The inbox lists the case.
  const link = page.locator(`#inbox-list a.case-link[href$="${caseId}"]`);
  await link.waitFor({ state: "visible" });
  seen.inboxCount = await page.locator("#inbox-list li").count();
  seen.inboxSummary = (await page.textContent("#inbox-summary")).trim();

  // Open it: its title, reasons and images.
  await link.click();
  await page.locator("#case-body").waitFor({ state: "visible" });
  await page.waitForFunction(() => {
    const images = [...document.querySelectorAll("#case-images img")];
    return images.length >= 2 && images.every((img) => img.complete && img.naturalWidth > 0);
  });
  seen.caseTitle = (await page.textContent("#case-title")).trim();
  seen.reasons = await page.locator("#case-reasons li").allTextContents();
  seen.images = await page.$$eval("#case-images img", (images) =>
    images.map((img) => ({ alt: img.alt, width: img.naturalWidth, height: img.naturalHeight })));
  // The subject's enrolled references beside the probe: face photos as enrolled and the reference signatures.
  await page.waitForFunction(() => {
    const images = [...document.querySelectorAll("#case-references img")];
    return images.length >= 2 && images.every((img) => img.complete && img.naturalWidth > 0);
  });
  seen.references = await page.$$eval("#case-references img", (images) =>
    images.map((img) => ({ alt: img.alt, width: img.naturalWidth, height: img.naturalHeight })));
  await page.screenshot({ path: screenshot, fullPage: false });

  // The verdict is where the reviewer sees it without scrolling, at the top of the page and at its end.
  const acceptInView = () => page.$eval('#verdict-choose button[data-verdict="accept"]', (button) => {
    const box = button.getBoundingClientRect();
    return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
  });
  await page.evaluate(() => window.scrollTo(0, 0));
  seen.verdictInViewAtTop = await acceptInView();
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  seen.verdictInViewAtEnd = await acceptInView();

  // The verdict: a live person, accepted, with a note; confirmed.
  await page.check('#verdict-presentation input[value="bona_fide"]');
  await page.fill("#verdict-note", "Same person; live.");
  // A accepts (R rejects) from the keyboard, outside the note field; the confirmation still asks.
  await page.locator("#case-title").focus();
  await page.keyboard.press("a");
  await page.locator("#verdict-confirm").waitFor({ state: "visible" });
  seen.shortcutConfirm = (await page.textContent("#verdict-confirm-button")).trim();
  await page.click("#verdict-confirm-button");

  // Back in the inbox, with the thanks and without the case.
  await page.locator("#inbox-flash").waitFor({ state: "visible" });
  seen.flash = (await page.textContent("#inbox-flash")).trim();
  await page.locator(`#inbox-list a.case-link[href$="${caseId}"]`).waitFor({ state: "detached" });
  console.log(JSON.stringify(seen));
} catch (err) {
  console.error(`browser test failed: ${err.message}`);
  console.error(JSON.stringify(seen));
  process.exitCode = 1;
} finally {
  await browser.close();
}
