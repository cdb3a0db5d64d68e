// The web client as players meet it, at a phone size and a laptop size: the home page, the
// share link's join page, the house-rules round trip, and a whole game in which the room plays
// a turn for an away player and that player forfeits, shown to the others; the tab title on
// your turn, emotes shown once, focus kept after a move; axe-core on every screen, light and
// dark. Screenshots of every screen go to docs/screenshots/<screen>-<size>.png.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import {
  SIZES,
  addBot,
  axeSerious,
  createRoom,
  deadline,
  docScreenshotDir,
  docShot,
  finished,
  joinRoom,
  launchBrowser,
  playOnce,
  repoRoot,
  sleep,
  startServer,
  tid,
  usable,
  freePort,
} from "./harness.mjs";

/** Installed before the page's scripts: records every Content-Security-Policy violation. */
function recordCsp() {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(`${e.violatedDirective}: ${e.blockedURI} ${e.sample ?? ""}`);
  });
}

/**
 * Installed before the page's scripts, with recordCsp: lets the test hide and show the tab.
 * Headless Chromium keeps every tab visible (neither a second tab brought to the front nor a
 * minimised window hides one), so the page's own Page Visibility API is driven: the client
 * reads `document.visibilityState` and listens for `visibilitychange`, as it does for a real
 * background tab.
 */
function recordCspAndVisibility() {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(`${e.violatedDirective}: ${e.blockedURI} ${e.sample ?? ""}`);
  });
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  window.__setHidden = (h) => {
    hidden = h;
    document.dispatchEvent(new Event("visibilitychange"));
  };
}

/** Hides or shows the tab (see recordCspAndVisibility). */
const setHidden = (page, hidden) => page.evaluate((h) => window.__setHidden(h), hidden);

/** The page broke none of the server's Content-Security-Policy. */
async function noCspViolations(page, what) {
  assert.deepEqual(await page.evaluate(() => window.__csp), [], `${what}: CSP violations`);
}

/** axe-core finds no serious or critical violation on this screen, light and dark. */
async function accessible(page, screen) {
  for (const colorScheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme });
    const found = await axeSerious(page);
    assert.deepEqual(found, [], `${screen} (${colorScheme}): serious/critical axe violations`);
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/** Every rule input's value as the form shows it, keyed by GameConfig field. */
async function formRules(page) {
  return page.evaluate(() => {
    const out = {};
    for (const el of document.querySelectorAll('[data-testid^="rule-"]')) {
      const key = el.getAttribute("data-testid").slice(5);
      if (el.type === "checkbox") out[key] = el.checked;
      else out[key] = el.value;
    }
    const forfeit = document.querySelector('[data-testid="option-forfeit_after_secs"]');
    out.forfeit_after_secs = forfeit?.value;
    return out;
  });
}

/** The server's rules in the form's terms (strings for selects and numbers). */
function asForm(rules, options, shown) {
  const out = {};
  for (const key of Object.keys(shown)) {
    if (key === "forfeit_after_secs") { out[key] = String(options.forfeit_after_secs); continue; }
    const v = rules[key];
    if (key === "first_round_opener") out[key] = v.kind === "Seat" ? String(v.seat) : "random";
    else if (key === "turn_time_limit_secs") out[key] = v === null ? "" : String(v);
    else if (typeof v === "boolean") out[key] = v;
    else out[key] = String(v);
  }
  return out;
}

async function summaryOf(server, link) {
  const code = link.split("/r/")[1];
  const res = await fetch(`${server.url}/api/rooms/${code}`);
  assert.equal(res.status, 200);
  return res.json();
}

async function openRules(page) {
  if (!(await tid(page, "rule-starting_dice").isVisible().catch(() => false))) await tid(page, "rules-toggle").click();
  await tid(page, "rule-starting_dice").waitFor();
}

for (const [size, viewport] of Object.entries(SIZES)) {
  test(`${size}: home, join page and the house-rules round trip`, { timeout: 180_000 }, async () => {
    const server = await startServer();
    const browser = await launchBrowser();
    try {
      const host = await browser.newPage({ viewport, init: recordCsp });
      await host.goto(server.url + "/");
      // Name and a big "Create room" first; the rules wait behind "Customise rules".
      await tid(host, "create-button").waitFor();
      assert.ok(await tid(host, "create-button").isVisible(), "Create room is on the first screen");
      const box = await tid(host, "create-button").boundingBox();
      assert.ok(box && box.y + box.height <= viewport.height, `Create room is above the fold (${box?.y})`);
      assert.equal(await tid(host, "rule-starting_dice").isVisible(), false, "rules closed at first");
      // No socket on the home page, so no connection state ("offline" would alarm for nothing).
      assert.equal(await tid(host, "connection-state").count(), 0, "no connection state on the home page");
      const homeText = await host.locator("main").textContent();
      for (const id of ["HalfUpDoublePlusOne", "AnyExceptBidderAndCurrent"]) assert.ok(!homeText.includes(id), id);
      await docShot(host, `home-${size}`);
      await accessible(host, "home");
      await tid(host, "rules-toggle").click();
      await tid(host, "preset-quick").click();
      assert.equal(await tid(host, "rule-starting_dice").inputValue(), "3", "the quick preset sets 3 dice");
      await docShot(host, `home-rules-${size}`, { full: true });
      await tid(host, "preset-palifico").click();

      const link = await createRoom(host, server.url, "Ann");
      // The share link opens a join page: host, players, rules, whether a game runs.
      const guest = await browser.newPage({ viewport, init: recordCsp });
      await guest.goto(link);
      await tid(guest, "join-summary").waitFor();
      assert.match(await tid(guest, "join-host").textContent(), /Ann/);
      assert.deepEqual(await tid(guest, "join-players").locator("li").allTextContents(), ["AAnn"]);
      assert.match(await tid(guest, "join-rules").textContent(), /5 dice each/);
      assert.match(await tid(guest, "join-status").textContent(), /not started/);
      await docShot(guest, `join-${size}`);
      await accessible(guest, "join");

      // The rules round trip. Max players 2 adjusts palifico's minimum (no developer message).
      await openRules(host);
      await tid(host, "rule-max_players").selectOption("2");
      assert.equal(await tid(host, "rule-palifico_min_players").inputValue(), "2", "the dependent setting follows");
      await tid(host, "rule-starting_dice").selectOption("4");
      await tid(host, "rule-turn_time_limit_secs").fill("45");
      await tid(host, "option-forfeit_after_secs").fill("90");
      await tid(host, "save-rules").click();
      await tid(host, "rules-saved").waitFor();
      assert.equal(await tid(host, "error-toast").isVisible(), false, "no error");
      let server1 = await summaryOf(server, link);
      assert.equal(server1.rules.max_players, 2);
      assert.equal(server1.rules.palifico_min_players, 2);
      assert.equal(server1.rules.starting_dice, 4);
      assert.equal(server1.rules.turn_time_limit_secs, 45);
      let shown = await formRules(host);
      // The forfeit option is not in the summary; the lobby's room view has it.
      const options = { forfeit_after_secs: 90 };
      assert.deepEqual(shown, asForm(server1.rules, options, shown), "after a save the form shows what the server has");

      await host.reload();
      await tid(host, "share-link").waitFor();
      await openRules(host);
      shown = await formRules(host);
      assert.deepEqual(shown, asForm(server1.rules, options, shown), "after a reload too");
      // A second save changes only what the host changed.
      const calza = await tid(host, "rule-calza_enabled").isChecked();
      await tid(host, "rule-calza_enabled").setChecked(!calza);
      await tid(host, "save-rules").click();
      await host.waitForFunction(() => document.querySelector('[data-testid="rules-saved"]') !== null);
      const server2 = await summaryOf(server, link);
      assert.deepEqual(server2.rules, { ...server1.rules, calza_enabled: !calza }, "only calza changed");
      shown = await formRules(host);
      assert.deepEqual(shown, asForm(server2.rules, options, shown), "the form still shows the server's rules");
      await docShot(host, `lobby-rules-${size}`, { full: true });

      await joinRoom(guest, link, "Bob");
      await tid(host, "seat-1").waitFor();
      await host.evaluate(() => window.scrollTo(0, 0));
      await docShot(host, `lobby-${size}`);
      await accessible(host, "lobby");
      await docShot(guest, `lobby-guest-${size}`);
      assert.equal(await tid(host, "connection-state").getAttribute("data-state"), "connected", "a room page shows its socket's state");
      // Spanish by choice, remembered; then "Play against bots now" is one click to a table.
      const solo = await browser.newPage({ viewport, init: recordCsp });
      await solo.goto(server.url + "/");
      await tid(solo, "lang-select").selectOption("es");
      assert.equal((await tid(solo, "create-button").textContent()).trim(), "Crear sala");
      assert.equal(await solo.evaluate(() => document.documentElement.lang), "es");
      await solo.reload();
      assert.equal((await tid(solo, "create-button").textContent()).trim(), "Crear sala", "the language is remembered");
      await docShot(solo, `home-es-${size}`);
      await tid(solo, "lang-select").selectOption("en");
      await tid(solo, "quick-bots-button").click();
      await tid(solo, "my-dice").locator('[data-testid="die"]').first().waitFor();
      assert.equal(await solo.locator('[data-testid^="player-name-"]').count(), 3, "you and two bots");
      for (const page of [host, guest, solo]) assert.deepEqual(page.errors, [], "no uncaught page errors");
      await noCspViolations(solo, "solo");
      await noCspViolations(host, "host");
      await noCspViolations(guest, "guest");
    } finally {
      await browser.close();
      await server.stop();
    }
  });

  test(`${size}: a game where the room plays for an away player who then forfeits`, { timeout: 300_000 }, async () => {
    const server = await startServer(["--disconnect-grace-ms", "300", "--reveal-pause-ms", "2500"]);
    const browser = await launchBrowser();
    try {
      const ann = await browser.newPage({ viewport, init: recordCspAndVisibility });
      const link = await createRoom(ann, server.url, "Ann");
      await openRules(ann);
      await tid(ann, "option-forfeit_after_secs").fill("15");
      await tid(ann, "save-rules").click();
      await tid(ann, "rules-saved").waitFor();
      const bob = await browser.newPage({ viewport, init: recordCsp });
      await joinRoom(bob, link, "Bob");
      await addBot(ann, "Easy", 2);
      await tid(ann, "start-button").click();
      for (const page of [ann, bob]) await tid(page, "my-dice").waitFor();

      // A friend opening the link now sees that a game runs, then watches.
      const cid = await browser.newPage({ viewport, init: recordCsp });
      await cid.goto(link);
      await tid(cid, "join-summary").waitFor();
      assert.match(await tid(cid, "join-status").textContent(), /being played/);
      assert.equal((await tid(cid, "join-players").locator("li").count()), 3);
      await docShot(cid, `join-running-${size}`);
      await tid(cid, "spectate-button").click();
      await tid(cid, "player-0").waitFor();

      // Emotes: one bubble at the sender's seat, drawn once, gone after a few seconds.
      await tid(ann, "emote-Laugh").click();
      const bubble = '[data-testid="player-0"] [data-testid="emote-bubble"][data-emote="Laugh"]';
      await bob.waitForSelector(bubble);
      assert.equal(await bob.locator('[data-testid="emote-bubble"]').count(), 1, "one bubble");
      await bob.evaluate((sel) => { document.querySelector(sel).__seen = true; }, bubble);
      await sleep(1200);
      assert.equal(await bob.locator('[data-testid="emote-bubble"]').count(), 1, "still one bubble");
      assert.ok(await bob.evaluate((sel) => document.querySelector(sel)?.__seen === true, bubble), "the same element: not redrawn");
      await bob.waitForFunction(() => document.querySelectorAll('[data-testid="emote-bubble"]').length === 0, null, { timeout: 8_000 });
      await docShot(ann, `table-${size}`);

      // The tab title and favicon tell a background tab it is its turn, and only a hidden
      // one: Ann switches away before her turn comes; when she comes back they clear, though
      // it is still her turn (the table says so). Focus stays on the bid button after a
      // keyboard move.
      await setHidden(ann, true);
      const check = deadline(60_000, "Ann's turn comes");
      while (!/your turn/i.test(await tid(ann, "turn-indicator").textContent())) {
        check();
        assert.doesNotMatch(await bob.title(), /Your turn/, "a visible tab's title never flags (Bob's)");
        if (/your turn/i.test(await tid(bob, "turn-indicator").textContent())) await tid(bob, "bid-button").click().catch(() => {});
        await sleep(50);
      }
      assert.match(await ann.title(), /^▶ Your turn/, "the hidden tab's title says it is Ann's turn");
      assert.equal(await ann.locator("#favicon").getAttribute("href"), "/favicon-turn.svg");
      assert.doesNotMatch(await bob.title(), /Your turn/, "not Bob's");
      await setHidden(ann, false);
      assert.match(await tid(ann, "turn-indicator").textContent(), /your turn/i, "still Ann's turn");
      assert.doesNotMatch(await ann.title(), /Your turn/, "the title clears once the tab is visible");
      assert.equal(await ann.locator("#favicon").getAttribute("href"), "/favicon.svg", "so does the favicon");
      await docShot(ann, `table-your-turn-${size}`);
      await accessible(ann, "table");
      const before = await tid(ann, "bid-history").textContent();
      await tid(ann, "bid-button").focus();
      await ann.keyboard.press("Enter");
      await ann.waitForFunction((b) => document.querySelector('[data-testid="bid-history"]')?.textContent !== b, before);
      await sleep(300);
      assert.equal(await ann.evaluate(() => document.activeElement?.getAttribute("data-testid")), "bid-button", "focus kept after the move");

      // Bob goes away: on his turn the room plays for him, and after 15 s he forfeits.
      await bob.close();
      const seen = new Set();
      let shotReveal = false;
      const end = deadline(200_000, "the game ends");
      while (!(await finished(ann))) {
        try {
          end();
        } catch (e) {
          // Say what the page showed when it got stuck.
          await ann.screenshot({ path: `/tmp/stuck-${size}.png` }).catch(() => {});
          const shown = await ann.evaluate(() => ({
            turn: document.querySelector('[data-testid="turn-indicator"]')?.textContent,
            bid: document.querySelector('[data-testid="current-bid"]')?.textContent,
            log: [...document.querySelectorAll('[data-testid="log-entry"]')].map((l) => l.textContent).slice(0, 8),
            conn: document.querySelector('[data-testid="connection-state"]')?.textContent,
          }));
          throw new Error(`${e.message}: ${JSON.stringify(shown)}`);
        }
        for (const key of await ann.locator('[data-testid="news-entry"]').evaluateAll((els) => els.map((e) => `${e.dataset.key}|${e.textContent}`))) {
          if (!seen.has(key)) seen.add(key);
        }
        if (!shotReveal && (await usable(ann, "reveal"))) {
          // The cups lifted, the matches counted up to the total, the outcome told.
          const told = await ann.waitForFunction(
            () => document.querySelector('[data-testid="reveal-count"]')?.getAttribute("data-done") === "true",
            null, { timeout: 5_000 },
          ).then(() => true, () => false);
          if (told && (await usable(ann, "reveal"))) {
            assert.ok(await usable(ann, "reveal-outcome"), "the outcome is told once the count is done");
            // The lost die's badge lands on its seat (for the screenshot): its drop animation
            // comes to rest at 30 % of its 1.2 s (a fixed sleep caught it mid-flight on a busy
            // machine). If the reveal is over by then, the next reveal is taken instead.
            const landed = await ann.waitForFunction(
              () => document.getAnimations()
                .filter((a) => a.effect?.target?.classList?.contains("change"))
                .every((a) => a.playState === "finished" || a.currentTime >= 400),
              null, { timeout: 2_000 },
            ).then(() => true, () => false);
            if (landed && (await usable(ann, "reveal"))) {
              await docShot(ann, `reveal-${size}`);
              await accessible(ann, "reveal");
              shotReveal = true;
            }
          }
        }
        // Once the room has played for Bob, Ann holds her turn until his forfeit (15 s away)
        // comes, so that a quick game cannot end before it.
        const autoSeen = [...seen].some((n) => n.startsWith("log.autoAway|"));
        const forfeitSeen = [...seen].some((n) => n.startsWith("log.forfeited|"));
        if (!autoSeen || forfeitSeen) await playOnce(ann);
        await sleep(60);
      }
      const news = [...seen];
      assert.ok(news.some((n) => n.startsWith("log.autoAway|") && n.includes("Bob")), `the auto-played turn was shown: ${news}`);
      assert.ok(news.some((n) => n.startsWith("log.forfeited|") && n.includes("Bob")), `the forfeit was shown: ${news}`);
      assert.ok(shotReveal, "saw a reveal");

      await tid(ann, "results").waitFor();
      await tid(ann, "rematch-button").waitFor();
      await tid(cid, "results").waitFor();
      await tid(cid, "waiting-host").waitFor();
      await docShot(ann, `results-${size}`);
      await accessible(ann, "results");
      await docShot(cid, `results-guest-${size}`, { full: size === "phone" });
      const overflow = await cid.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `the results fit the screen's width (${overflow} px over)`);
      await tid(ann, "verify-button").click();
      await ann.waitForFunction(() => document.querySelector('[data-testid="verify-result"]')?.dataset.verdict === "fair");
      // Ann saw the game start: the record's commitment is the one she received then.
      assert.equal(await tid(ann, "verify-seen-check").getAttribute("data-ok"), "true");
      assert.equal((await tid(ann, "verify-seen").textContent()).trim(), (await tid(ann, "verify-commitment").textContent()).trim());
      await tid(ann, "verify-panel").screenshot({ path: join(docScreenshotDir, `verify-${size}.png`) });
      await accessible(ann, "verify dice");
      // The record the panel links to passes the independent verifier (every die re-derived).
      const recordHref = await tid(ann, "verify-record-link").getAttribute("href");
      const verdict = spawnSync(process.execPath, [join(repoRoot, "tools", "verify-record.mjs"), server.url + recordHref], { encoding: "utf8", timeout: 30_000 });
      assert.equal(verdict.status, 0, `tools/verify-record.mjs on ${recordHref}: ${verdict.stdout}${verdict.stderr}`);
      assert.match(verdict.stdout, /^ok: /);
      await tid(ann, "how-button").click();
      await tid(ann, "how-to-play").waitFor();
      assert.match(await tid(ann, "how-to-play").textContent(), /5 dice/);
      await docShot(ann, `how-to-play-${size}`);
      await accessible(ann, "how to play");
      for (const page of [ann, cid]) assert.deepEqual(page.errors, [], "no uncaught page errors");
      await noCspViolations(ann, "Ann");
      await noCspViolations(cid, "Cid");
    } finally {
      await browser.close();
      await server.stop();
    }
  });
}

/** A loopback port free right now (for a server whose own address must be known up front). */

test("the share link is at the operator's public URL (--public-url), not the page's origin", { timeout: 120_000 }, async () => {
  const port = await freePort();
  // The public site is elsewhere (behind a proxy); this page is opened on the loopback
  // address, which the operator also allows to open sockets.
  const server = await startServer(
    ["--public-url", "https://perudo.example.org", "--allowed-origins", `http://127.0.0.1:${port}`],
    { port },
  );
  const browser = await launchBrowser();
  try {
    const host = await browser.newPage({ viewport: SIZES.phone });
    const link = await createRoom(host, server.url, "Ann");
    const code = new URL(host.url()).pathname.split("/r/")[1];
    assert.equal(link, `https://perudo.example.org/r/${code}`);
    assert.deepEqual(host.errors, [], "no uncaught page errors");
  } finally {
    await browser.close();
    await server.stop();
  }
});
