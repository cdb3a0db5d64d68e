// "Time ran out" and forfeits as the other players see them: the host sets a 10 s turn limit
// and a 15 s forfeit limit in the rules form (the smallest the server accepts); Bob lets his
// turn run out, so the room plays it for him; then Bob closes his tab and, away past the
// forfeit limit, forfeits. A friend watching in another browser sees both on the table.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  SIZES,
  addBot,
  createRoom,
  deadline,
  joinRoom,
  launchBrowser,
  screenshot,
  sleep,
  startServer,
  tid,
  tryClick,
  usable,
} from "./harness.mjs";

/** The news lines on the table now, as `key|text`. */
const news = (page) =>
  page.locator('[data-testid="news-entry"]').evaluateAll((els) => els.map((e) => `${e.dataset.key}|${e.textContent}`));

/** Ann keeps the game going: on her turn she raises (never calls unless she must). */
async function annPlays(ann) {
  const turn = (await tid(ann, "turn-indicator").textContent().catch(() => "")) ?? "";
  if (!/your turn/i.test(turn)) return;
  if (await usable(ann, "bid-button")) await tryClick(ann, "bid-button");
  else if (await usable(ann, "dudo-button")) {
    if (await tryClick(ann, "dudo-button")) await tryClick(ann, "dudo-button");
  }
}

test("another browser sees the room play a timed-out turn, then a forfeit", { timeout: 240_000 }, async () => {
  const viewport = SIZES.phone;
  const server = await startServer(["--disconnect-grace-ms", "300"]);
  const browser = await launchBrowser();
  try {
    const ann = await browser.newPage({ viewport });
    const link = await createRoom(ann, server.url, "Ann");
    await tid(ann, "rules-toggle").click();
    await tid(ann, "rule-turn_time_limit_secs").fill("10");
    await tid(ann, "option-forfeit_after_secs").fill("15");
    await tid(ann, "save-rules").click();
    await tid(ann, "rules-saved").waitFor();
    const bob = await browser.newPage({ viewport });
    await joinRoom(bob, link, "Bob");
    await addBot(ann, "Easy", 2);
    await tid(ann, "start-button").click();
    await tid(bob, "my-dice").waitFor();
    const cid = await browser.newPage({ viewport });
    await cid.goto(link);
    await tid(cid, "spectate-button").click();
    await tid(cid, "player-0").waitFor();

    // Bob sits still on his turn: after 10 s the room plays it for him, "time ran out".
    const seen = new Set();
    const look = async () => { for (const n of await news(cid)) seen.add(n); };
    let check = deadline(90_000, "the room plays Bob's timed-out turn");
    while (![...seen].some((n) => n.startsWith("log.autoTime|"))) {
      check();
      await annPlays(ann);
      await look();
      await sleep(100);
    }
    const timedOut = [...seen].find((n) => n.startsWith("log.autoTime|"));
    assert.match(timedOut, /^log\.autoTime\|Time ran out: the room (bid .+|called dudo|called calza) for \u2068Bob\u2069\.$/);
    await screenshot(cid, "timeout-auto-played");

    // Bob leaves without a word; 15 s later he forfeits and the others see why. Ann now
    // waits too (the room plays her turns when her 10 s run out), so that the game cannot
    // end before the forfeit comes.
    await bob.close();
    check = deadline(120_000, "Bob forfeits");
    while (![...seen].some((n) => n.startsWith("log.forfeited|"))) {
      check();
      await look();
      if (await tid(cid, "results").count()) break;
      await sleep(100);
    }
    const forfeit = [...seen].find((n) => n.startsWith("log.forfeited|"));
    assert.equal(forfeit, "log.forfeited|\u2068Bob\u2069 was away too long and forfeited.", [...seen].join("\n"));
    // Bob's seat says he is out (no dice), not just "away 0".
    await cid.waitForFunction(() => document.querySelector('[data-testid="dice-count-1"]')?.textContent === "0" ||
      document.querySelector('[data-testid="results"]') !== null);
    // The round log keeps both after the news fades.
    const log = await cid.locator('[data-testid="log-entry"]').evaluateAll((els) => els.map((e) => e.dataset.key));
    if ((await tid(cid, "results").count()) === 0) {
      assert.ok(log.includes("log.autoTime") && log.includes("log.forfeited"), `the round log: ${log}`);
    }
    for (const page of [ann, cid]) assert.deepEqual(page.errors, [], "no uncaught page errors");
  } finally {
    await browser.close();
    await server.stop();
  }
});
