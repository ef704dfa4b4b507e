/**
 * The browser bundle (scripts/build-browser.mjs): it builds, contains no Node
 * built-in, `require` or Node global, stays small, and the build refuses a
 * graph that imports a Node built-in.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { runInNewContext } from "node:vm";
import { gzipSync } from "node:zlib";

const root = resolve(import.meta.dirname, "../..");
const script = join(root, "scripts/build-browser.mjs");

function build(args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: "utf8" });
}

describe("browser bundle", () => {
  let dir: string;
  const bundles: Record<string, string> = {};

  before(() => {
    // Built into a temporary directory so the test does not depend on `npm run build` having run.
    dir = mkdtempSync(join(tmpdir(), "starling-browser-"));
    const result = build(["--outdir", join(dir, "out")]);
    assert.equal(result.status, 0, `build failed:\n${result.stdout}\n${result.stderr}`);
    for (const name of ["starling-client.js", "starling-client.iife.js"]) {
      bundles[name] = readFileSync(join(dir, "out", name), "utf8");
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("has no require(), node: specifier, Node built-in import, or Node global", () => {
    for (const [name, code] of Object.entries(bundles)) {
      assert.doesNotMatch(code, /\brequire\s*\(/, `${name}: require(`);
      assert.doesNotMatch(code, /["'`]node:/, `${name}: a node: specifier`);
      assert.doesNotMatch(code, /\bfrom\s*["'](?!\.)/, `${name}: a bare import left unbundled`);
      assert.doesNotMatch(code, /(?<![.\w$])process\s*\./, `${name}: process.`);
      assert.doesNotMatch(code, /(?<![.\w$])Buffer\b/, `${name}: Buffer`);
      assert.doesNotMatch(code, /(?<![.\w$])global\s*\./, `${name}: global.`);
    }
  });

  it("exports the browser transport (ESM) and sets the Starling global (IIFE)", () => {
    assert.match(bundles["starling-client.js"], /export\s*\{[^}]*\bbrowserWsTransport\b/);
    // Loaded in a fresh context that has browser globals only (no process, Buffer, require).
    const browserGlobals = {
      TextEncoder,
      TextDecoder,
      URL,
      queueMicrotask,
      setTimeout,
      clearTimeout,
    };
    const starling = runInNewContext(`${bundles["starling-client.iife.js"]}\nStarling;`, {
      ...browserGlobals,
    });
    assert.equal(typeof starling.browserWsTransport, "function");
  });

  it("reports its size (min + gzip) and stays within a sanity bound", () => {
    for (const [name, code] of Object.entries(bundles)) {
      const raw = Buffer.byteLength(code);
      const gz = gzipSync(code, { level: 9 }).length;
      console.log(
        `browser bundle ${name}: ${(raw / 1024).toFixed(1)} KiB min, ${(gz / 1024).toFixed(1)} KiB min+gzip`,
      );
      assert.ok(gz < 200 * 1024, `${name} is ${gz} bytes gzipped`);
    }
  });

  it("the build fails, naming the import, when the graph pulls in a Node built-in", () => {
    const entry = join(dir, "bad-entry.ts");
    writeFileSync(
      entry,
      `import { connect } from "node:net";\nimport { tmpdir } from "os";\nexport const x = [connect, tmpdir];\n`,
    );
    const result = build(["--entry", entry, "--outdir", join(dir, "bad-out")]);
    assert.notEqual(result.status, 0, "the build must fail");
    assert.match(result.stderr, /"node:net" is Node-only, imported by .*bad-entry\.ts/);
    assert.match(result.stderr, /"os" is Node-only/);
  });
});
