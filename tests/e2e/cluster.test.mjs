// A browser game on a cluster: three `perudo` nodes on 127.0.0.1 sharing one
// throwaway PostgreSQL database (Debian's `postgresql`: initdb and pg_ctl in a temp dir, Unix
// socket only), Debian's Caddy in front running the shipped deploy/Caddyfile.cluster (only the
// addresses changed). Two browsers and a bot play through Caddy; mid-game the node that runs
// the room is killed with SIGKILL. The pages reconnect by themselves through Caddy, reach the
// node that took the room over, and resume the same round with the same dice; the game is
// played to its end, and every move made before the kill is in the database.
//
// PostgreSQL and Caddy are required (scripts/test.sh installs them): missing, the test fails.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  addBot,
  createRoom,
  deadline,
  ensureServerBuilt,
  finished,
  joinRoom,
  launchBrowser,
  myDice,
  repoRoot,
  sleep,
  startServer,
  tid,
  freePort,
} from "./harness.mjs";
import { expectResults, move, myTurn, sockets, text, within, wsProbe } from "./pages.mjs";

ensureServerBuilt();

const CADDY = process.env.CADDY ?? "caddy";
const ARGS = ["--disconnect-grace-ms", "60000", "--restore-grace-secs", "60", "--lease-ms", "3000"];


/** Debian's server programs: /usr/lib/postgresql/<newest major>/bin ($PERUDO_PG_BIN overrides). */
function pgBin() {
  if (process.env.PERUDO_PG_BIN) return process.env.PERUDO_PG_BIN;
  const majors = existsSync("/usr/lib/postgresql")
    ? readdirSync("/usr/lib/postgresql").filter((d) => /^\d+$/.test(d) && existsSync(`/usr/lib/postgresql/${d}/bin/initdb`))
    : [];
  assert.ok(majors.length > 0, "PostgreSQL is not installed: apt-get install -y postgresql (scripts/test.sh does)");
  return `/usr/lib/postgresql/${majors.sort((a, b) => a - b).pop()}/bin`;
}

/**
 * A throwaway cluster listening only on a Unix socket in a temp dir, run as `postgres` when
 * the tests run as root (PostgreSQL refuses root). Returns { url, psql(sql), stop() }.
 */
function startPostgres() {
  const bin = pgBin();
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-pg-"));
  const run = (program, args) =>
    root
      ? execFileSync("runuser", ["-u", "postgres", "--", join(bin, program), ...args], { stdio: "pipe" })
      : execFileSync(join(bin, program), args, { stdio: "pipe" });
  if (root) execFileSync("chown", ["postgres:", dir]);
  const data = join(dir, "data");
  run("initdb", ["-D", data, "-U", "perudo", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  run("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", `-c listen_addresses='' -k ${dir} -p 5432`, "-w", "-t", "60", "start"]);
  const psql = (database, sql) =>
    execFileSync(join(bin, "psql"), ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", dir, "-p", "5432", "-U", "perudo", "-d", database, "-c", sql], { encoding: "utf8" }).trim();
  psql("postgres", "CREATE DATABASE perudo");
  return {
    url: `host=${dir} port=5432 user=perudo dbname=perudo`,
    psql: (sql) => psql("perudo", sql),
    stop: () => {
      try {
        run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "60", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** deploy/Caddyfile.cluster on http://127.0.0.1:<port>, proxying to `upstreams`. */
function localCaddyfile(port, upstreams, storage) {
  const shipped = readFileSync(join(repoRoot, "deploy", "Caddyfile.cluster"), "utf8");
  const upstream = "reverse_proxy 10.0.0.11:8080 10.0.0.12:8080 10.0.0.13:8080 {";
  assert.equal(shipped.split(upstream).length, 2, "deploy/Caddyfile.cluster proxies to the three example nodes once");
  assert.match(shipped, /^perudo\.example\.org \{$/m);
  assert.match(shipped, /^\{\n\tservers \{$/m);
  return shipped
    .replace(/^\{\n\tservers \{$/m, `{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\thttp_port ${port}\n\tstorage file_system ${storage}\n\tservers {`)
    .replace(/^perudo\.example\.org \{$/m, `http://127.0.0.1:${port} {`)
    .replace(upstream, `reverse_proxy ${upstreams.join(" ")} {`);
}

/** `caddy run` on the cluster config; resolves once /healthz answers 200 through it. */
async function startCaddy(upstreams) {
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-caddy-cluster-"));
  const port = await freePort();
  const file = join(dir, "Caddyfile");
  writeFileSync(file, localCaddyfile(port, upstreams, join(dir, "storage")));
  const child = spawn(CADDY, ["run", "--config", file, "--adapter", "caddyfile"], {
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, "xdg-data"), XDG_CONFIG_HOME: join(dir, "xdg-config") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (c) => (log += c));
  const exited = new Promise((done) => child.once("exit", done));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const check = deadline(30_000, `caddy passes ${url}/healthz on`);
  for (;;) {
    try {
      check();
    } catch (e) {
      await stop();
      throw new Error(`${e.message}\n${log}`);
    }
    if (child.exitCode !== null) throw new Error(`caddy exited:\n${log}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) return { url, stop };
    await sleep(100);
  }
}

test("a browser game through Caddy on three nodes survives kill -9 of the room's node", { timeout: 300_000 }, async (t) => {
  let pg = null;
  let caddy = null;
  let browser = null;
  const nodes = [];
  try {
    pg = startPostgres();
    const ports = [await freePort(), await freePort(), await freePort()];
    const args = ["--database-url", pg.url, ...ARGS];
    for (const port of ports) nodes.push(await startServer(args, { port }));
    caddy = await startCaddy(ports.map((p) => `127.0.0.1:${p}`));
    browser = await launchBrowser();

    const host = await browser.newPage({ init: wsProbe });
    const link = await createRoom(host, caddy.url, "Ann");
    assert.ok(link.startsWith(caddy.url), `the share link is the proxy's: ${link}`);
    const code = new URL(link).pathname.split("/").pop();
    const bob = await browser.newPage({ init: wsProbe });
    await joinRoom(bob, link, "Bob");
    await tid(host, "seat-1").waitFor();
    await addBot(host, "Easy", 2);
    const names = [];
    for (let i = 0; i < 3; i++) names.push(await text(host, `seat-name-${i}`));
    await tid(host, "start-button").click();
    const pages = [host, bob];
    for (const page of pages) await tid(page, "my-dice").locator('[data-testid="die"]').first().waitFor();

    // Play until a page has moved and a human is on turn.
    let moves = 0;
    let onTurn = null;
    const check = deadline(60_000, "a move, then a human on turn");
    while (!onTurn) {
      check();
      if (moves > 0) for (const page of pages) if (!onTurn && (await myTurn(page))) onTurn = page;
      if (onTurn) break;
      for (const page of pages) if (await move(page)) moves += 1;
      assert.ok(!(await finished(host)), "the game did not end before the kill");
      await sleep(40);
    }
    await sleep(300);
    const dice = await Promise.all(pages.map(myDice));
    const owner = () => pg.psql(`SELECT n.url || ' ' || l.epoch FROM leases l JOIN nodes n ON n.name = l.node WHERE l.code = '${code}'`);
    const [ownerUrl, epoch] = owner().split(" ");
    assert.equal(epoch, "1");
    const killed = ports.findIndex((p) => ownerUrl === `http://127.0.0.1:${p}`);
    assert.ok(killed >= 0, `a node runs the room: ${ownerUrl}`);
    const stored = pg.psql(`SELECT count(*) FROM moves WHERE code = '${code}' AND number = 1`);
    assert.ok(Number(stored) > 0, "moves are stored");

    // kill -9 the room's node. The pages reconnect through Caddy on their own: a socket
    // opened after the kill, with a Snapshot of the room restored on another node.
    const socketsBefore = await Promise.all(pages.map(sockets));
    await nodes[killed].kill();
    for (const [i, page] of pages.entries()) {
      await within(page, `page ${i} is back on the room`, page.waitForFunction(
        (n) => document.querySelector('[data-testid="connection-state"]')?.textContent?.trim() === "connected" &&
          window.__sockets.slice(n).some((s) => s.opened && s.closeCode === null && s.snapshots > 0),
        socketsBefore[i].length,
        { timeout: 60_000, polling: 100 },
      ));
    }
    const [newUrl, newEpoch] = owner().split(" ");
    assert.notEqual(newUrl, ownerUrl, "another node runs the room");
    assert.equal(newEpoch, "2", "at the next epoch");
    for (const [i, page] of pages.entries()) {
      assert.deepEqual(await myDice(page), dice[i], "the same dice after the move to another node");
    }
    assert.ok(await myTurn(onTurn), "the player on turn can still act");
    assert.equal(pg.psql(`SELECT count(*) FROM moves WHERE code = '${code}' AND number = 1`), stored, "every move made before the kill, nothing else");

    // The killed node comes back on its address (Caddy's health checks take it back in).
    nodes[killed] = await startServer(args, { port: ports[killed] });

    const end = deadline(150_000, "the game ends after the kill");
    while (!(await finished(host))) {
      end();
      for (const page of pages) if (await move(page)) moves += 1;
      await sleep(40);
    }
    for (const page of pages) {
      await expectResults(page, names);
      assert.deepEqual(page.errors, [], "no uncaught page errors");
    }
    const record = await (await fetch(`${caddy.url}/api/rooms/${code}/games/1`)).json();
    assert.ok(record.moves.length >= Number(stored), "the record holds the moves made before the kill");
    t.diagnostic(`${moves} moves by the pages; room ${code} moved from ${ownerUrl} to ${newUrl}`);
  } finally {
    await browser?.close();
    await caddy?.stop();
    for (const node of nodes) await node?.stop();
    pg?.stop();
  }
});
