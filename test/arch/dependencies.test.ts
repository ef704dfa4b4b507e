/**
 * The direction of imports from ARCHITECTURE.md, checked on every import in
 * src/ and web/. A wrong import fails CI.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";

const root = resolve(import.meta.dirname, "../..");

interface Import {
  file: string; // relative to root, e.g. src/protocol/decoder.ts
  spec: string; // as written
  target: string | null; // resolved path relative to root for relative imports
}

function walk(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.(ts|tsx|js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

const importRe =
  /(?:^|\n)\s*(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

export function importsOf(file: string, source: string): Import[] {
  const out: Import[] = [];
  for (const m of source.matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    const target = spec.startsWith(".")
      ? relative(root, resolve(dirname(join(root, file)), spec)).replace(/\.js$/, ".ts")
      : null;
    out.push({ file, spec, target });
  }
  return out;
}

const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const isNodeOnly = (spec: string) => nodeBuiltins.has(spec) || spec.startsWith("node:");
const layer = (path: string) => {
  const m =
    /^src\/(protocol|client|cli|broker\/(?:core|transport|store|cluster|auth|http)|broker)\//.exec(
      path,
    );
  if (m) return m[1];
  if (path.startsWith("web/")) return "web";
  return "other";
};

/** Returns the rule broken by one import, or null. */
export function violation(imp: Import): string | null {
  const from = layer(imp.file);
  const to = imp.target === null ? null : layer(imp.target);
  if (from === "protocol") {
    if (imp.target === null) return "protocol/ imports no packages and nothing Node-only";
    if (to !== "protocol") return "protocol/ imports nothing else from the project";
  }
  if (from === "client") {
    const nodeTransport = /^src\/client\/transport\/node[-/]/.test(imp.file);
    if (imp.target === null && isNodeOnly(imp.spec) && !nodeTransport) {
      return "client/ keeps Node built-ins in client/transport/node-* only";
    }
    if (to !== null && to !== "client" && to !== "protocol")
      return "client/ imports only protocol/";
  }
  if (from === "web" && to !== null && to !== "web" && to !== "client" && to !== "protocol") {
    return "web/ uses client/ (and protocol/) only";
  }
  if (from === "broker/core") {
    if (
      imp.target !== null &&
      /^src\/broker\/(store|cluster|auth)\/(?!(types|index)\.ts$)/.test(imp.target)
    ) {
      return "broker/core depends on the store/cluster/auth interfaces (types.ts), never an implementation";
    }
    if (imp.target === null && /^(lmdb|ioredis|redis)$/.test(imp.spec)) {
      return "broker/core never imports a storage or cluster engine";
    }
  }
  if (to === "cli" && from !== "cli") return "cli/ is a leaf: nothing imports it";
  if (to === "web" && from !== "web") return "web/ is a leaf: nothing imports it";
  if (to?.startsWith("broker") && (from === "protocol" || from === "client")) {
    return `${from}/ must not import the broker`;
  }
  return null;
}

describe("architecture: direction of imports", () => {
  it("the checker flags imports that break the rules (so it can fail)", () => {
    const bad = [
      { file: "src/protocol/x.ts", spec: "node:net", target: null },
      { file: "src/protocol/x.ts", spec: "../client/y.js", target: "src/client/y.ts" },
      { file: "src/client/session.ts", spec: "node:tls", target: null },
      { file: "src/client/session.ts", spec: "../broker/index.js", target: "src/broker/index.ts" },
      {
        file: "src/broker/core/router.ts",
        spec: "../store/lmdb.js",
        target: "src/broker/store/lmdb.ts",
      },
      { file: "src/broker/core/router.ts", spec: "ioredis", target: null },
      { file: "src/broker/index.ts", spec: "../cli/main.js", target: "src/cli/main.ts" },
    ];
    for (const imp of bad) assert.notEqual(violation(imp), null, `${imp.file} -> ${imp.spec}`);
    const good = [
      { file: "src/protocol/x.ts", spec: "./wire.js", target: "src/protocol/wire.ts" },
      { file: "src/client/transport/node-tcp.ts", spec: "node:net", target: null },
      {
        file: "src/broker/core/router.ts",
        spec: "../store/types.js",
        target: "src/broker/store/types.ts",
      },
      { file: "src/cli/main.ts", spec: "../broker/index.js", target: "src/broker/index.ts" },
    ];
    for (const imp of good) assert.equal(violation(imp), null, `${imp.file} -> ${imp.spec}`);
  });

  it("every import in src/ and web/ follows ARCHITECTURE.md", () => {
    const files = [...walk(join(root, "src")), ...walk(join(root, "web"))];
    assert.ok(files.length > 0, "no source files found");
    const problems: string[] = [];
    for (const path of files) {
      const file = relative(root, path);
      for (const imp of importsOf(file, readFileSync(path, "utf8"))) {
        const why = violation(imp);
        if (why) problems.push(`${file} imports ${imp.spec}: ${why}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
