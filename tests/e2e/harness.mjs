// Shared by the end-to-end tests: the real `perudo` binary on a loopback port, headless
// Debian Chromium through playwright-core, and the data-testid helpers of TESTIDS.md.
//
// The binary is $PERUDO_BIN when set (scripts/test.sh builds it), else the test builds it with
// `cargo build -p perudo-server --bin perudo` (a no-op when it is up to date; it also embeds
// the web-client/dist just built). Everything stays on 127.0.0.1.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");
export const screenshotDir = join(here, "screenshots");

/** Chromium's path (Debian's `chromium` package); $CHROMIUM overrides it. */
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Settings that keep games quick. */
export const FAST = ["--reveal-pause-ms", "300", "--bot-delay-ms", "50"];

let builtBinary;
function perudoBinary() {
  if (process.env.PERUDO_BIN) return process.env.PERUDO_BIN;
  if (!builtBinary) {
    execFileSync("cargo", ["build", "-p", "perudo-server", "--bin", "perudo"], {
      cwd: repoRoot,
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 15 * 60_000,
    });
    builtBinary = join(repoRoot, "target", "debug", "perudo");
  }
  return builtBinary;
}

/**
 * Builds (or finds) the server binary now, e.g. at a test file's top level so that a slow
 * build does not count against a test's own timeout. Returns its path.
 */
export function ensureServerBuilt() {
  return perudoBinary();
}

const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Starts `perudo serve --listen 127.0.0.1:0` and reads the bound address from its
 * `listening addr=...` log line. Returns `{ url, port, db, stop, log }`; call `stop()` in a
 * finally. `stop()` sends SIGTERM (SIGKILL after 5 s) and resolves to `{ code, signal }` of the
 * exit.
 *
 * Options, for restarting a server on the same rooms (see `tempDb`):
 * - `db`: the database file to use; it is kept when the server stops (the caller removes it).
 *   Without it, each server gets a database of its own, removed when it stops.
 * - `port`: listen on `127.0.0.1:<port>` instead of a free port (retried for a few seconds
 *   while the port is still in use).
 */
export async function startServer(extraArgs = [], { db, port, bin } = {}) {
  const check = deadline(10_000, `port ${port} is free again`);
  for (;;) {
    try {
      return await startServerOnce(extraArgs, { db, port, bin });
    } catch (e) {
      if (!port || !/address already in use|AddrInUse|os error 98/i.test(String(e?.message))) throw e;
      check();
      await sleep(250);
    }
  }
}

/** A database path that outlives servers, for `startServer(args, { db: path })`. */
export function tempDb() {
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-db-"));
  return { path: join(dir, "perudo.db"), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function startServerOnce(extraArgs, { db, port, bin }) {
  // Each server keeps its rooms in a database of its own, removed when it stops (unless the
  // caller gave one).
  const dbDir = db ? null : mkdtempSync(join(tmpdir(), "perudo-e2e-"));
  const dbPath = db ?? join(dbDir, "perudo.db");
  const listen = `127.0.0.1:${port ?? 0}`;
  const child = spawn(
    bin ?? perudoBinary(),
    ["serve", "--listen", listen, "--db", dbPath, ...FAST, ...extraArgs],
    {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "1", RUST_LOG: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  const exited = new Promise((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (dbDir) rmSync(dbDir, { recursive: true, force: true });
    return exited;
  };
  try {
    const url = await new Promise((ok, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`perudo did not log its address in 20 s:\n${log}`)),
        20_000,
      );
      const read = (chunk) => {
        log += chunk.toString().replace(ANSI, "");
        const m = /listening addr=(127\.0\.0\.1:\d+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          ok(`http://${m[1]}`);
        }
      };
      child.stdout.on("data", read);
      child.stderr.on("data", read);
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(new Error(`perudo exited (${code}) before listening:\n${log}`));
      });
    });
    return { url, port: Number(new URL(url).port), db: dbPath, stop, log: () => log };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Launches headless Chromium. Playwright gives every launch a fresh temporary user-data-dir
 * (and deletes it on close); it refuses a `--user-data-dir` argument to `launch()`.
 * Each `newPage()` is its own browser context: its own storage, so its own player.
 */
/** Starts the server and a browser, runs `body(server, browser)`, and always stops both. */
export async function withServerAndBrowser(serverArgs, body) {
  const server = await startServer(serverArgs);
  let browser;
  try {
    browser = await launchBrowser();
    return await body(server, browser);
  } finally {
    await browser?.close();
    await server.stop();
  }
}

/**
 * `args`: extra Chromium switches after the usual ones (e.g. the deployment test's
 * `--ignore-certificate-errors-spki-list=...`, which trusts its local CA's keys).
 */
export async function launchBrowser({ args = [] } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    timeout: 30_000,
  });
  const contexts = [];
  return {
    browser,
    async newPage({ init } = {}) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      context.setDefaultTimeout(15_000);
      if (init) await context.addInitScript(init);
      contexts.push(context);
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.errors = errors;
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
    },
  };
}

/** The locator of a data-testid. */
export const tid = (page, id) => page.locator(`[data-testid="${id}"]`);

/** Saves e2e/screenshots/<name>.png; scrolled to the top unless `element` is given. */
export async function screenshot(page, name, element) {
  mkdirSync(screenshotDir, { recursive: true });
  if (element) {
    await tid(page, element).first().scrollIntoViewIfNeeded().catch(() => {});
  } else {
    await page.evaluate(() => window.scrollTo(0, 0));
  }
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether the testid is in the DOM, visible and enabled (false instead of throwing). */
export async function usable(page, id) {
  const el = tid(page, id).first();
  try {
    return (await el.count()) > 0 && (await el.isVisible()) && (await el.isEnabled());
  } catch {
    return false;
  }
}

/** Clicks without failing when the element re-rendered or vanished meanwhile. */
export async function tryClick(page, id) {
  try {
    await tid(page, id).first().click({ timeout: 1_000 });
    return true;
  } catch {
    return false;
  }
}

/** The `data-face` list of the `die` elements inside `my-dice`, as numbers. */
export async function myDice(page) {
  return tid(page, "my-dice")
    .locator('[data-testid="die"]')
    .evaluateAll((dice) => dice.map((d) => Number(d.getAttribute("data-face"))));
}

/** Creates a room from the home page as `name`; resolves to the share link. */
export async function createRoom(page, url, name) {
  await page.goto(url + "/");
  await tid(page, "create-name").fill(name);
  await tid(page, "create-button").click();
  await tid(page, "share-link").waitFor();
  await page.waitForFunction(
    () => /\/r\/\w+/.test(document.querySelector('[data-testid="share-link"]')?.textContent ?? ""),
  );
  return (await tid(page, "share-link").textContent()).trim();
}

/** Opens the share link and takes a seat as `name`. */
export async function joinRoom(page, link, name) {
  await page.goto(link);
  await tid(page, "join-name").fill(name);
  await tid(page, "join-seat-button").click();
  await tid(page, "leave-button").waitFor();
}

/** The host adds a bot of `level` and waits for its seat row. */
export async function addBot(page, level, seats) {
  await tid(page, "bot-level").selectOption(level);
  await tid(page, "add-bot").click();
  await tid(page, `seat-${seats}`).waitFor();
}

/**
 * One move for `page` if it can act: dudo when its button is enabled, else the bid button with
 * the preselected legal bid when it is this page's turn. Returns what it did, or null.
 */
export async function playOnce(page) {
  if (await usable(page, "dudo-button")) {
    return (await tryClick(page, "dudo-button")) ? "dudo" : null;
  }
  if (await usable(page, "bid-button")) {
    const turn = (await tid(page, "turn-indicator").textContent().catch(() => "")) ?? "";
    if (/your turn/i.test(turn)) {
      return (await tryClick(page, "bid-button")) ? "bid" : null;
    }
  }
  return null;
}

/** Whether the page shows the results of a finished game. */
export async function finished(page) {
  return (await tid(page, "results").count()) > 0 && (await tid(page, "winner").count()) > 0;
}

/** Rejects after `ms` with `what`; for bounding a loop or a whole test. */
export function deadline(ms, what) {
  const end = Date.now() + ms;
  return () => {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
  };
}
