// The self-hosting kit, end to end on this machine:
//
// 1. perudo behind a real Caddy (Debian's `caddy`) serving TLS from its internal CA on
//    127.0.0.1, with the site block of the shipped deploy/Caddyfile (only the address, the
//    upstream port and `tls internal` changed): a browser plays a whole game over wss://
//    through it, and perudo is restarted gracefully (SIGTERM, same port, same database) in the
//    middle while Caddy keeps running; the page comes back by itself through the proxy.
// 2. The shipped deploy/Caddyfile passes `caddy validate` and is as `caddy fmt` writes it.
// 3. The shipped deploy/perudo.service passes `systemd-analyze verify` (skipped only where
//    systemd-analyze is not installed).
//
// Caddy is required (CI installs it, see .ci/run): without it the tests fail, they do not
// skip. $CADDY overrides its path. Caddy's state (its CA, certificates, autosaved config) goes
// to a temporary directory: HOME, XDG_DATA_HOME and XDG_CONFIG_HOME point there and the
// Caddyfile sets `storage file_system`; it listens on loopback only, with its admin API off.
//
// How Chromium trusts the TLS: it is launched with `--ignore-certificate-errors-spki-list`
// holding the SHA-256 of the public keys of Caddy's local root and intermediate certificates
// (read from the temporary storage). A chain that does not lead to those keys is still
// refused, unlike with `ignoreHTTPSErrors`/`--ignore-certificate-errors`, and nothing is added
// to a system or user certificate store. The test's own HTTPS requests (node:https) verify the
// whole chain against Caddy's root.crt, the certificate's IP address included.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  addBot,
  createRoom,
  deadline,
  ensureServerBuilt,
  finished,
  launchBrowser,
  myDice,
  playOnce,
  repoRoot,
  sleep,
  startServer,
  tempDb,
  tid,
  usable,
  freePort,
} from "./harness.mjs";
import { expectResults, move, myTurn, sockets, text, within, wsProbe } from "./pages.mjs";

// Build the server before the tests' clocks start (a no-op when it is up to date). What
// people deploy is the release build: scripts/test.sh (CI) builds it and names it in
// PERUDO_RELEASE_BIN; a local `npm run e2e` without it uses the harness's binary.
const perudoBin = process.env.PERUDO_RELEASE_BIN || ensureServerBuilt();

const CADDY = process.env.CADDY ?? "caddy";
const SYSTEMD_ANALYZE = process.env.SYSTEMD_ANALYZE ?? "systemd-analyze";
const SHIPPED_CADDYFILE = join(repoRoot, "deploy", "Caddyfile");
const SHIPPED_UNIT = join(repoRoot, "deploy", "perudo.service");

// Long graces, as in restart.test.mjs: the restored room must not play the page's turn while
// it finds its way back.
const ARGS = ["--disconnect-grace-ms", "60000", "--restore-grace-secs", "60"];

/** Fails (does not skip) when caddy is missing: CI installs it. */
function requireCaddy() {
  const r = spawnSync(CADDY, ["version"], { encoding: "utf8", timeout: 10_000 });
  if (r.error?.code === "ENOENT") {
    assert.fail(`caddy is not installed ('${CADDY}' not found): apt-get install -y caddy (.ci/run does)`);
  }
  assert.equal(r.status, 0, `caddy version failed: ${r.error ?? ""}${r.stderr}`);
  return r.stdout.trim();
}

/** An environment that keeps Caddy's CA, certificates and autosaved config under `dir`. */
function caddyEnv(dir) {
  return {
    ...process.env,
    HOME: dir,
    XDG_DATA_HOME: join(dir, "xdg-data"),
    XDG_CONFIG_HOME: join(dir, "xdg-config"),
  };
}


/**
 * A request over HTTPS, verifying the chain against `ca`; bounded. Resolves to { status, body,
 * headers }. `localAddress` picks the loopback address it comes from (another "client").
 */
function httpsRequest(url, ca, { method = "GET", body, localAddress, ms = 5_000 } = {}) {
  return new Promise((ok, fail) => {
    const headers = body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    const req = request(url, { ca, agent: false, timeout: ms, method, headers, localAddress }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => { text += c; });
      res.on("end", () => ok({ status: res.statusCode, body: text, headers: res.headers }));
      res.on("error", fail);
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${ms} ms: ${method} ${url}`)));
    req.on("error", fail);
    req.end(body);
  });
}

/** GET over HTTPS, verifying the chain against `ca`; bounded. Resolves to { status, body }. */
function httpsGet(url, ca, ms = 5_000) {
  return new Promise((ok, fail) => {
    const req = request(url, { ca, agent: false, timeout: ms }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => { body += c; });
      res.on("end", () => ok({ status: res.statusCode, body, headers: res.headers }));
      res.on("error", fail);
    });
    req.on("timeout", () => req.destroy(new Error(`timed out after ${ms} ms: GET ${url}`)));
    req.on("error", fail);
    req.end();
  });
}

/** base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, as Chromium's SPKI list wants. */
function spkiHash(pem) {
  const der = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

/**
 * The shipped deploy/Caddyfile made runnable here: global options that keep everything on
 * loopback, on the given ports and in `storage`; the site address becomes
 * https://127.0.0.1:<httpsPort> with `tls internal`; the upstream becomes perudo's port. The
 * site's own directives (encode, reverse_proxy) are the shipped ones.
 */
function localCaddyfile({ httpPort, httpsPort, upstreamPort, storage }) {
  const shipped = readFileSync(SHIPPED_CADDYFILE, "utf8");
  const site = /^perudo\.example\.org \{$/m;
  const upstream = /reverse_proxy 127\.0\.0\.1:8080\b/g;
  // The shipped global options (the request-head limits) are kept, merged into ours.
  const globalBlock = /^\{\n([\s\S]*?)^\}\n/m;
  const global = globalBlock.exec(shipped);
  assert.ok(global, "deploy/Caddyfile has a global options block");
  const servers = /^\tservers \{$/m;
  assert.match(global[1], servers, "deploy/Caddyfile's global options have a servers block");
  assert.match(global[1], /read_header 10s/, "deploy/Caddyfile limits the time to send a request head");
  assert.match(global[1], /max_header_size 16KB/, "deploy/Caddyfile limits the size of a request head");
  assert.match(shipped, site, "deploy/Caddyfile has the site block `perudo.example.org {`");
  assert.equal((shipped.match(upstream) ?? []).length, 1, "deploy/Caddyfile proxies to 127.0.0.1:8080 once");
  const body = shipped
    .replace(globalBlock, "")
    .replace(site, `https://127.0.0.1:${httpsPort} {\n\ttls internal`)
    .replace(upstream, `reverse_proxy 127.0.0.1:${upstreamPort}`);
  return `{
	admin off
	local_certs
	skip_install_trust
	default_bind 127.0.0.1
	http_port ${httpPort}
	https_port ${httpsPort}
	storage file_system ${storage}
${global[1].replace(servers, "\tservers {\n\t\tprotocols h1 h2")}
}

${body}`;
}

/**
 * `caddy run` on `config`; resolves once https://127.0.0.1:<httpsPort>/healthz answers 200
 * through it (verified against Caddy's root certificate). Returns { url, rootPem,
 * intermediatePem, stop, running, log }; call stop() in a finally.
 */
async function startCaddy(dir, config, httpsPort) {
  const file = join(dir, "Caddyfile");
  writeFileSync(file, config);
  const child = spawn(CADDY, ["run", "--config", file, "--adapter", "caddyfile"], {
    cwd: dir,
    env: caddyEnv(dir),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (c) => { log += c; });
  child.stderr.on("data", (c) => { log += c; });
  let spawnError = null;
  child.once("error", (e) => { spawnError = e; });
  const exited = new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));
  const running = () => child.exitCode === null && child.signalCode === null && !spawnError;
  const stop = async () => {
    if (child.pid !== undefined && running()) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    const url = `https://127.0.0.1:${httpsPort}`;
    const ca = join(dir, "storage", "pki", "authorities", "local");
    const check = deadline(30_000, `caddy serves ${url}/healthz`);
    let last = "";
    for (;;) {
      if (!running()) throw new Error(`caddy exited (${spawnError ?? JSON.stringify(await exited)}):\n${log}`);
      try {
        check();
      } catch (e) {
        throw new Error(`${e.message} (last: ${last})\n${log}`);
      }
      if (existsSync(join(ca, "root.crt")) && existsSync(join(ca, "intermediate.crt"))) {
        const rootPem = readFileSync(join(ca, "root.crt"), "utf8");
        try {
          const res = await httpsGet(`${url}/healthz`, rootPem, 2_000);
          if (res.status === 200) {
            const intermediatePem = readFileSync(join(ca, "intermediate.crt"), "utf8");
            return { url, rootPem, intermediatePem, stop, running, log: () => log };
          }
          last = `HTTP ${res.status}`;
        } catch (e) {
          last = String(e.message);
        }
      }
      await sleep(200);
    }
  } catch (e) {
    await stop();
    throw e;
  }
}


test("a whole game over wss:// through Caddy with TLS, and a graceful restart behind the proxy", { timeout: 300_000 }, async (t) => {
  t.diagnostic(`caddy ${requireCaddy()}`);
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-caddy-"));
  const db = tempDb();
  let server = null;
  let caddy = null;
  let browser = null;
  try {
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const publicUrl = `https://127.0.0.1:${httpsPort}`;
    // perudo as the unit runs it: on loopback, the public URL being the proxy's.
    server = await startServer([...ARGS, "--public-url", publicUrl], { db: db.path, bin: perudoBin });
    const perudoPort = server.port;
    mkdirSync(join(dir, "storage"));
    caddy = await startCaddy(
      dir,
      localCaddyfile({ httpPort, httpsPort, upstreamPort: perudoPort, storage: join(dir, "storage") }),
      httpsPort,
    );
    const { url, rootPem, intermediatePem } = caddy;
    assert.equal(url, publicUrl);
    assert.ok(new X509Certificate(intermediatePem).verify(new X509Certificate(rootPem).publicKey),
      "Caddy's intermediate is signed by its root");
    // The proxy is on the path: Caddy names itself; perudo answers /healthz behind it.
    const health = await httpsGet(`${url}/healthz`, rootPem);
    assert.equal(health.status, 200);
    assert.match(String(health.headers.server ?? ""), /Caddy/, "the answer came through Caddy");
    // The shipped Caddyfile keeps the metrics off the public side; perudo itself serves them.
    assert.equal((await httpsGet(`${url}/metrics`, rootPem)).status, 404, "/metrics is not public");

    // `perudo check` as a deployer runs it, trusting Caddy's local CA: every step passes
    // through the proxy (health, readiness, the built page, share links on the public URL,
    // the WebSocket upgrade and protocol version).
    writeFileSync(join(dir, "caddy-root.crt"), rootPem);
    const checked = spawnSync(
      perudoBin,
      ["check", "--url", url, "--ca-cert", join(dir, "caddy-root.crt")],
      { encoding: "utf8", timeout: 60_000, env: { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" } },
    );
    assert.equal(checked.status, 0, `perudo check passes through Caddy:\n${checked.stdout}\n${checked.stderr}`);
    assert.match(checked.stdout, /all 5 checks passed/);
    assert.match(checked.stdout, /wss:\/\/127\.0\.0\.1/, "the check's WebSocket went over wss://");
    // Without the CA it must refuse the certificate, not pass.
    const untrusted = spawnSync(perudoBin, ["check", "--url", url], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: "1", RUST_BACKTRACE: "0" },
    });
    assert.notEqual(untrusted.status, 0, "perudo check refuses an untrusted certificate");
    assert.match(untrusted.stdout, /FAIL/);

    browser = await launchBrowser({
      args: [`--ignore-certificate-errors-spki-list=${spkiHash(rootPem)},${spkiHash(intermediatePem)}`],
    });
    const page = await browser.newPage({ init: wsProbe });
    const link = await createRoom(page, url, "Ann");
    assert.ok(link.startsWith(`${publicUrl}/r/`), `the share link (${link}) is on the public URL`);
    const code = new URL(link).pathname.split("/").pop();
    assert.equal(await page.evaluate(() => location.protocol), "https:", "the page is served over TLS");
    await addBot(page, "Easy", 1);
    await addBot(page, "Normal", 2);
    const names = [];
    for (let i = 0; i < 3; i++) names.push(await text(page, `seat-name-${i}`));
    await tid(page, "start-button").click();
    await tid(page, "my-dice").locator('[data-testid="die"]').first().waitFor();
    const first = await sockets(page);
    assert.ok(first.length > 0 && first.some((s) => s.opened), "the page opened a WebSocket");
    for (const s of first) {
      assert.ok(s.url.startsWith(`wss://127.0.0.1:${httpsPort}/`), `the WebSocket URL (${s.url}) is wss:// through Caddy`);
    }

    // Play until the page has moved and it is its turn again: then nothing moves until it does.
    let moves = 0;
    const check = deadline(60_000, "a move, then the page on turn");
    while (!(moves > 0 && (await myTurn(page)))) {
      check();
      if (await move(page)) moves += 1;
      assert.ok(!(await finished(page)), "the game did not end before the restart");
      await sleep(40);
    }
    const diceBefore = await myDice(page);
    const bidsBefore = await tid(page, "bid-history").locator("li").allTextContents();
    const socketsBefore = (await sockets(page)).length;

    // SIGTERM perudo; Caddy keeps running. The goodbye (close code 1012) passes the proxy.
    const exit = await server.stop();
    server = null;
    assert.deepEqual(exit, { code: 0, signal: null }, "perudo exited cleanly on SIGTERM");
    await within(page, "the page shows it lost the server", page.waitForFunction(
      () => /^(reconnecting|offline)$/.test(
        document.querySelector('[data-testid="connection-state"]')?.textContent?.trim() ?? ""),
      null,
      { timeout: 10_000 },
    ));
    assert.equal((await sockets(page))[socketsBefore - 1].closeCode, 1012,
      "the page's socket was closed as a service restart, through Caddy");
    assert.ok(caddy.running(), "Caddy is still running");
    const down = await httpsGet(`${url}/healthz`, rootPem);
    assert.equal(down.status, 502, "Caddy answers 502 Bad Gateway while perudo is down");
    // At least one reconnect attempt fails at the proxy, as during a real upgrade.
    await within(page, "a reconnect attempt fails", page.waitForFunction(
      (n) => window.__sockets.slice(n).some((s) => s.closeCode !== null && !s.opened),
      socketsBefore,
      { timeout: 20_000 },
    ));
    assert.deepEqual(await myDice(page), diceBefore, "the dice stay on show while offline");

    // The same port, the same database; Caddy was not touched.
    server = await startServer([...ARGS, "--public-url", publicUrl], {
      db: db.path,
      port: perudoPort,
      bin: perudoBin,
    });
    assert.equal(server.port, perudoPort);
    const restartedAt = Date.now();
    const summary = await httpsGet(`${url}/api/rooms/${code}`, rootPem);
    assert.equal(summary.status, 200);
    assert.equal(JSON.parse(summary.body).phase, "Playing", "the room was restored mid-game");

    // No clicks: the page reconnects through Caddy, resumes and gets a Snapshot.
    await within(page, "the page reconnects through Caddy and gets a Snapshot", page.waitForFunction(
      (n) => document.querySelector('[data-testid="connection-state"]')?.textContent?.trim() === "connected" &&
        window.__sockets.slice(n).some((s) => s.opened && s.closeCode === null && s.snapshots > 0),
      socketsBefore,
      { timeout: 40_000, polling: 100 },
    ));
    const backAfter = Date.now() - restartedAt;
    assert.equal(await tid(page, "join-name").count(), 0, "not asked to join again");
    assert.deepEqual(await myDice(page), diceBefore, "the same dice after the restart");
    assert.deepEqual(await tid(page, "bid-history").locator("li").allTextContents(), bidsBefore, "the same round");
    assert.ok(await myTurn(page), "the page is still on turn");

    // And on to the end.
    const end = deadline(180_000, "the game ends after the restart");
    while (!(await finished(page))) {
      end();
      if (await move(page)) moves += 1;
      await sleep(40);
    }
    await expectResults(page, names);
    const all = await sockets(page);
    for (const s of all) assert.ok(s.url.startsWith("wss://"), `every WebSocket is wss:// (${s.url})`);
    assert.deepEqual(page.errors, [], "no uncaught page errors");

    // The finished game's record, through the proxy.
    const rec = await httpsGet(`${url}/api/rooms/${code}/games/1`, rootPem);
    assert.equal(rec.status, 200, `GET /api/rooms/${code}/games/1: ${rec.body}`);
    const record = JSON.parse(rec.body);
    assert.match(record.seed, /^[0-9a-f]{64}$/i, "the record has its seed");
    assert.equal(
      createHash("sha256").update(Buffer.from(record.seed, "hex")).digest("hex"),
      String(record.commitment).toLowerCase(),
      "SHA-256(seed) is the published commitment",
    );
    t.diagnostic(`${moves} moves by the page; ${all.length} sockets; back ${backAfter} ms after perudo restarted`);
  } finally {
    await browser?.close();
    await server?.stop();
    await caddy?.stop();
    db.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("behind the shipped Caddy with perudo's defaults, one client using up its room allowance does not lock out another", { timeout: 120_000 }, async (t) => {
  requireCaddy();
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-caddy-limits-"));
  let server = null;
  let caddy = null;
  try {
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const publicUrl = `https://127.0.0.1:${httpsPort}`;
    // As DEPLOY.md runs it: nothing about proxies or limits set, so the defaults apply (the
    // proxy on loopback is trusted; 20 rooms a minute per client).
    server = await startServer(["--public-url", publicUrl], { bin: perudoBin });
    mkdirSync(join(dir, "storage"));
    caddy = await startCaddy(
      dir,
      localCaddyfile({ httpPort, httpsPort, upstreamPort: server.port, storage: join(dir, "storage") }),
      httpsPort,
    );
    const { url, rootPem } = caddy;
    const create = (localAddress) => httpsRequest(`${url}/api/rooms`, rootPem, {
      method: "POST",
      body: JSON.stringify({ name: "Ann" }),
      localAddress,
    });
    // Client one (127.0.0.1) creates 21 rooms: the 21st is over its allowance.
    const statuses = [];
    for (let i = 0; i < 21; i++) statuses.push((await create("127.0.0.1")).status);
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(200), "the first 20 rooms are created");
    assert.equal(statuses[20], 429, "the 21st room from the same client is refused");
    // Client two (127.0.0.2) still can: perudo sees it by Caddy's X-Forwarded-For.
    const other = await create("127.0.0.2");
    assert.equal(other.status, 200, `a second client behind the proxy creates a room: ${other.body}`);
    // The security headers reach the browser through the proxy, HSTS included.
    const page = await httpsGet(`${url}/`, rootPem);
    assert.equal(page.headers["strict-transport-security"], "max-age=31536000");
    assert.match(String(page.headers["content-security-policy"]), /frame-ancestors 'none'/);
    assert.equal(page.headers["x-frame-options"], "DENY");
    t.diagnostic(`statuses from client one: ${statuses.join(" ")}; client two: ${other.status}`);
  } finally {
    await server?.stop();
    await caddy?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the shipped Caddyfile validates", { timeout: 60_000 }, async () => {
  requireCaddy();
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-caddy-validate-"));
  try {
    const opts = { cwd: dir, env: caddyEnv(dir), encoding: "utf8", timeout: 30_000 };
    const v = spawnSync(CADDY, ["validate", "--config", SHIPPED_CADDYFILE, "--adapter", "caddyfile"], opts);
    assert.equal(v.status, 0, `caddy validate failed (${v.error ?? v.signal ?? v.status}):\n${v.stdout}${v.stderr}`);
    assert.match(v.stdout + v.stderr, /Valid configuration/);
    const f = spawnSync(CADDY, ["fmt", SHIPPED_CADDYFILE], opts);
    assert.equal(f.status, 0, `caddy fmt failed:\n${f.stderr}`);
    assert.equal(f.stdout, readFileSync(SHIPPED_CADDYFILE, "utf8"), "caddy fmt leaves deploy/Caddyfile unchanged");
    // The proxy's upstream is where the unit makes perudo listen.
    const unit = readFileSync(SHIPPED_UNIT, "utf8");
    const listen = /^Environment=PERUDO_LISTEN=(\S+)$/m.exec(unit)?.[1];
    assert.ok(listen, "deploy/perudo.service sets PERUDO_LISTEN");
    assert.match(readFileSync(SHIPPED_CADDYFILE, "utf8"), new RegExp(`reverse_proxy ${listen.replaceAll(".", "\\.")}\\s`),
      `deploy/Caddyfile proxies to the unit's PERUDO_LISTEN (${listen})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** nginx (Debian's `nginx-light`, installed by scripts/test.sh); $NGINX overrides it. */
const NGINX = process.env.NGINX ?? (existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx");

test("the shipped nginx.conf passes nginx -t (Debian 12's nginx)", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-nginx-"));
  try {
    // A throwaway certificate stands in for certbot's; everything else is the shipped site.
    const cert = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-subj", "/CN=perudo.example.org"],
      { encoding: "utf8", timeout: 30_000 });
    assert.equal(cert.status, 0, `openssl req failed:\n${cert.stderr}`);
    const site = readFileSync(join(repoRoot, "deploy", "nginx.conf"), "utf8")
      .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${join(dir, "key.pem")};`)
      .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${join(dir, "cert.pem")};`)
      .split("\n").filter((l) => !/include \/etc\/letsencrypt|ssl_dhparam/.test(l)).join("\n");
    writeFileSync(join(dir, "site.conf"), site);
    writeFileSync(join(dir, "nginx.conf"), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\n` +
      `http {\n  access_log off;\n  client_body_temp_path ${dir};\n  include ${dir}/site.conf;\n}\n`);
    const v = spawnSync(NGINX, ["-t", "-c", join(dir, "nginx.conf"), "-p", dir], { encoding: "utf8", timeout: 30_000 });
    assert.ok(!v.error, `nginx is required (Debian package nginx-light; scripts/test.sh installs it): ${v.error}`);
    assert.equal(v.status, 0, `nginx -t failed:\n${v.stdout}${v.stderr}`);
    assert.match(v.stderr, /test is successful/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the systemd unit verifies", { timeout: 60_000 }, async (t) => {
  const probe = spawnSync(SYSTEMD_ANALYZE, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (probe.error?.code === "ENOENT") {
    t.skip(`systemd-analyze is not installed ('${SYSTEMD_ANALYZE}' not found; Debian package systemd): deploy/perudo.service not verified`);
    return;
  }
  const shipped = readFileSync(SHIPPED_UNIT, "utf8");
  // The hardening the issue asks for.
  for (const line of ["NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=perudo", "Restart=on-failure"]) {
    assert.match(shipped, new RegExp(`^${line}$`, "m"), `deploy/perudo.service has ${line}`);
  }
  const execStart = /^ExecStart=(\S+)(.*)$/m;
  assert.match(shipped, execStart, "deploy/perudo.service has an ExecStart");
  const dir = mkdtempSync(join(tmpdir(), "perudo-e2e-unit-"));
  try {
    // The same unit, its ExecStart pointed at the binary built here (verify checks that the
    // command exists and is executable).
    const unitPath = join(dir, "perudo.service");
    writeFileSync(unitPath, shipped.replace(execStart, (_, _bin, rest) => `ExecStart=${perudoBin}${rest}`));
    const r = spawnSync(SYSTEMD_ANALYZE, ["verify", unitPath], { cwd: dir, encoding: "utf8", timeout: 30_000 });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `systemd-analyze verify failed (${r.error ?? r.signal ?? r.status}):\n${out}`);
    // It exits 0 even for unknown keys or values it ignores: no line may be about this unit.
    const about = out.split("\n").filter((l) => l.includes("perudo.service") || l.includes(dir));
    assert.deepEqual(about, [], `systemd-analyze verify warned about the unit:\n${out}`);
    t.diagnostic(probe.stdout.split("\n")[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
