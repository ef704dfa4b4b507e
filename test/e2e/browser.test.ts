/**
 * End to end in a real browser: the bundled client (scripts/build-browser.mjs)
 * loaded by a page in Debian's headless Chromium, driven with playwright-core,
 * talking to a Starling broker over WebSocket, with the Node client on the
 * other side over TCP. Once through the ES module bundle (MQTT 5.0) and once
 * through the IIFE bundle from a classic script tag (MQTT 3.1.1).
 *
 * Needs /usr/bin/chromium (Debian package `chromium`; `.ci/run` installs it).
 * Without it the suite is skipped with a loud warning, or fails under CI.
 * Nothing here downloads a browser.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium } from "playwright-core";
import type { Broker } from "../../src/broker/index.js";
import { type Client, connect, type Message, type Subscription } from "../../src/client/index.js";
import { startBroker } from "../helpers/broker.js";
import { requireProgram, waitFor } from "../helpers/programs.js";

const CHROMIUM = "/usr/bin/chromium";
/** Deadline for every single wait in this file. */
const WAIT_MS = 15_000;
/** Deadline for one whole test. */
const TEST_MS = 60_000;

const root = resolve(import.meta.dirname, "../..");
const pageTemplate = readFileSync(join(import.meta.dirname, "browser-page.html"), "utf8");

/** How each page loads the client: the placeholder in browser-page.html is replaced by one of these. */
const LOADERS = {
  esm: `<script type="module">
      import { connect } from "./starling-client.js";
      window.harness.loaded(connect, "esm");
    </script>`,
  iife: `<script src="./starling-client.iife.js"></script>
    <script>
      window.harness.loaded(Starling.connect, "iife");
    </script>`,
} as const;
type Bundle = keyof typeof LOADERS;

/** What the page reports for each message its subscription yields. */
interface Reported {
  topic: string;
  text: string;
  bytes: number[];
  qos: number;
  retain: boolean;
  contentType: string | null;
  payloadIsUint8Array: boolean;
}

/** Rejects with `what` after `ms` unless `p` settles first. */
function deadline<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The next message of a subscription, within the deadline. */
async function nextMessage(sub: Subscription, what: string): Promise<Message> {
  const r = await deadline(sub[Symbol.asyncIterator]().next(), what);
  assert.equal(r.done, false, `${what}: the subscription ended`);
  return r.value as Message;
}

const skip = requireProgram(CHROMIUM, "chromium");

describe("browser e2e: the bundled client in headless Chromium", { skip }, () => {
  let dir: string | undefined;
  let broker: Broker | undefined;
  let server: Server | undefined;
  let browser: Browser | undefined;
  let httpBase = "";
  const nodeClients: Client[] = [];

  before(async () => {
    // Build into a temporary directory, so the test uses today's sources
    // whether or not `npm run build` has run.
    dir = mkdtempSync(join(tmpdir(), "starling-e2e-"));
    const out = join(dir, "browser");
    const built = spawnSync(
      process.execPath,
      [join(root, "scripts/build-browser.mjs"), "--outdir", out],
      { cwd: root, encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(built.status, 0, `browser build failed:\n${built.stdout}\n${built.stderr}`);
    const files: Record<string, { type: string; body: string }> = {};
    for (const name of ["starling-client.js", "starling-client.iife.js"]) {
      files[`/${name}`] = {
        type: "text/javascript; charset=utf-8",
        body: readFileSync(join(out, name), "utf8"),
      };
      files[`/${name}.map`] = {
        type: "application/json",
        body: readFileSync(join(out, `${name}.map`), "utf8"),
      };
    }
    for (const bundle of Object.keys(LOADERS) as Bundle[]) {
      files[`/${bundle}.html`] = {
        type: "text/html; charset=utf-8",
        body: pageTemplate.replace("<!-- BUNDLE -->", LOADERS[bundle]),
      };
    }

    const http = createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const file = files[path];
      if (req.method !== "GET" || file === undefined) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}`);
        return;
      }
      res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(file.body);
    });
    server = http;
    await new Promise<void>((ok, fail) => {
      http.once("error", fail);
      http.listen(0, "127.0.0.1", () => ok());
    });
    httpBase = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

    broker = await startBroker();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      // Playwright gives each launch a fresh temporary profile. Without the
      // background-networking flags Chromium keeps dialling Google's hosts,
      // which this machine's closed network refuses.
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  after(async () => {
    const steps: [string, () => Promise<unknown> | undefined][] = [
      ["browser", () => browser?.close()],
      ...nodeClients.map((c): [string, () => Promise<unknown>] => [
        "node client",
        () => c.end({ force: true }),
      ]),
      ["broker", () => broker?.close()],
      [
        "http server",
        () => {
          const s = server;
          if (s === undefined) return undefined;
          s.closeAllConnections();
          return new Promise<void>((ok) => s.close(() => ok()));
        },
      ],
    ];
    for (const [what, step] of steps) {
      try {
        await deadline(Promise.resolve(step()), `closing the ${what}`);
      } catch (err) {
        console.error(`browser e2e: closing the ${what} failed:`, err);
      }
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens `/{bundle}.html` in a fresh context; collects what the page reports and logs. */
  async function openPage(bundle: Bundle) {
    assert.ok(browser !== undefined, "the browser did not start");
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const received: Reported[] = [];
    const logs: string[] = [];
    page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.stack ?? e.message}`));
    await page.exposeFunction("reportMessage", (m: Reported) => {
      received.push(m);
    });
    await page.goto(`${httpBase}/${bundle}.html`, { waitUntil: "load" });
    await page
      .waitForFunction(`window.harness.bundle === ${JSON.stringify(bundle)}`, undefined, {
        timeout: WAIT_MS,
      })
      .catch((err: unknown) => {
        throw new Error(`the ${bundle} bundle did not load:\n${logs.join("\n")}`, { cause: err });
      });
    /**
     * Calls `harness[method](...args)` in the page. A string, not a function:
     * tsx compiles functions with helpers that do not exist in the page.
     */
    const call = <T>(method: string, ...args: unknown[]): Promise<T> =>
      deadline(
        page.evaluate<T>(`window.harness.${method}(...${JSON.stringify(args)})`),
        `harness.${method} in the ${bundle} page`,
      ).catch((err: unknown) => {
        throw new Error(`harness.${method} failed in the ${bundle} page:\n${logs.join("\n")}`, {
          cause: err,
        });
      });
    const close = async () => {
      await call("end").catch(() => undefined);
      await context.close();
    };
    return { page, received, logs, call, close };
  }

  async function nodeClient(protocolVersion: 4 | 5): Promise<Client> {
    assert.ok(broker !== undefined);
    const c = await connect(broker.url("tcp"), {
      protocolVersion,
      reconnect: false,
      connectTimeout: WAIT_MS,
      operationTimeout: WAIT_MS,
    });
    nodeClients.push(c);
    return c;
  }

  /** The whole round trip, in the page loaded with `bundle`, over MQTT `protocolVersion`. */
  async function roundTrip(bundle: Bundle, protocolVersion: 4 | 5) {
    assert.ok(broker !== undefined);
    const wsUrl = broker.url("ws");
    assert.match(wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const tab = await openPage(bundle);
    try {
      const base = `e2e/${bundle}`;

      // Browser subscribes over WebSocket; Node publishes over TCP.
      const sub = await tab.call<{ reasonCodes: number[]; clientId: string }>(
        "subscribe",
        wsUrl,
        `${base}/+/status`,
        protocolVersion,
      );
      assert.deepEqual(sub.reasonCodes, [1], "granted QoS 1");
      assert.match(sub.clientId, /\S/);

      const publisher = await nodeClient(protocolVersion);
      const text = `on — ${bundle} ✓`;
      const ack = await publisher.publish(`${base}/kitchen/status`, text, {
        qos: 1,
        properties: { contentType: "text/plain" },
      });
      assert.equal(ack.reasonCode, 0, "PUBACK success: the browser's subscription matched");

      await waitFor(() => tab.received.length >= 1, `the ${bundle} page to receive`, WAIT_MS).catch(
        (err: unknown) => {
          throw new Error(`nothing received in the ${bundle} page:\n${tab.logs.join("\n")}`, {
            cause: err,
          });
        },
      );
      const got = tab.received[0];
      assert.equal(got.topic, `${base}/kitchen/status`);
      assert.equal(got.text, text);
      assert.deepEqual(got.bytes, Array.from(new TextEncoder().encode(text)));
      assert.equal(got.payloadIsUint8Array, true);
      assert.equal(got.qos, 1);
      assert.equal(got.retain, false);
      // Properties exist in MQTT 5 only.
      assert.equal(got.contentType, protocolVersion === 5 ? "text/plain" : null);

      // And the other way: the browser publishes, the Node client receives.
      const listener = await nodeClient(protocolVersion);
      const fromBrowser = await listener.subscribe(`${base}/from-browser`, { qos: 1 });
      const reason = await tab.call<number>("publish", `${base}/from-browser`, "hello node", 1);
      assert.equal(reason, 0);
      const m = await nextMessage(fromBrowser, `the message published by the ${bundle} page`);
      assert.equal(m.topic, `${base}/from-browser`);
      assert.equal(m.text(), "hello node");
      assert.equal(m.qos, 1);

      assert.deepEqual(await tab.page.evaluate("window.harness.errors"), []);
      assert.equal(tab.received.length, 1, "exactly one message in the page");
    } finally {
      await tab.close();
    }
  }

  it("ESM bundle (import { connect }): MQTT 5.0 over WebSocket, QoS 1 both ways", {
    timeout: TEST_MS,
  }, async () => {
    await roundTrip("esm", 5);
  });

  it("IIFE bundle (<script>, global Starling): MQTT 3.1.1 over WebSocket, QoS 1 both ways", {
    timeout: TEST_MS,
  }, async () => {
    await roundTrip("iife", 4);
  });
});
