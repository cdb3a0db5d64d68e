// Measures the first load of the web client: every response Chromium fetches for `/` and for a
// room page on a fresh profile, with its bytes on the wire (CDP `encodedDataLength`: headers
// and compressed body) and its Content-Encoding. A measurement, not a test:
//
//   PERUDO_BIN=$PWD/target/debug/perudo node tests/e2e/page-weight.mjs
//
// Results go into docs/BENCHMARKS.md ("Web client: page weight").

import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { launchBrowser, startServer, createRoom } from "./harness.mjs";

/** The machine, for the record: CPU model, cores, load average (1, 5, 15 min). */
function machine() {
  const model = cpus()[0]?.model ?? "?";
  let mem = "";
  try { mem = /MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? ""; } catch { /* not Linux */ }
  const load = loadavg().map((l) => l.toFixed(2)).join(", ");
  return `${model}, ${cpus().length} cores${mem ? `, ${(Number(mem) / 1024 / 1024).toFixed(1)} GiB` : ""}; load average ${load}`;
}
console.log(`machine: ${machine()}`);

const server = await startServer();
const browser = await launchBrowser();
try {
  for (const which of ["home", "room"]) {
    const page = await browser.newPage();
    let url = server.url + "/";
    if (which === "room") {
      const host = await browser.newPage();
      url = await createRoom(host, server.url, "Ann");
    }
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    const responses = new Map();
    cdp.on("Network.responseReceived", (e) => {
      responses.set(e.requestId, { url: e.response.url, encoding: e.response.headers["content-encoding"] ?? e.response.headers["Content-Encoding"] ?? "-", bytes: 0 });
    });
    cdp.on("Network.loadingFinished", (e) => {
      const r = responses.get(e.requestId);
      if (r) r.bytes = e.encodedDataLength;
    });
    await page.goto(url, { waitUntil: "networkidle" });
    let total = 0;
    console.log(`\n${which}: ${url}`);
    for (const r of responses.values()) {
      if (r.url.startsWith("ws")) continue;
      total += r.bytes;
      console.log(`  ${String(r.bytes).padStart(7)} B  ${r.encoding.padEnd(5)} ${r.url.replace(server.url, "")}`);
    }
    console.log(`  ${String(total).padStart(7)} B  total (${(total / 1024).toFixed(1)} KiB)`);
  }
  // Time to interactive on a throttled mid-range phone profile (Lighthouse's mobile settings:
  // 4× CPU slowdown, 150 ms RTT, 1.6 Mbit/s down): from navigation until "Create room" can be
  // clicked. Three fresh loads, no cache.
  const times = [];
  for (let i = 0; i < 3; i++) {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false, latency: 150, downloadThroughput: (1.6 * 1024 * 1024) / 8, uploadThroughput: (750 * 1024) / 8,
    });
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
    const start = Date.now();
    await page.goto(server.url + "/", { waitUntil: "commit" });
    await page.locator('[data-testid="create-button"]').waitFor({ state: "visible" });
    await page.waitForFunction(() => !document.querySelector('[data-testid="create-button"]').disabled);
    times.push(Date.now() - start);
  }
  console.log(`\nthrottled phone (4x CPU, 150 ms RTT, 1.6 Mbit/s): Create room usable after ${times.join(", ")} ms`);
  console.log(`machine after: ${machine()}`);
} finally {
  await browser.close();
  await server.stop();
}
