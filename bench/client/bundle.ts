/**
 * Browser bundle sizes: Starling's client (built here by
 * scripts/build-browser.mjs) against the browser bundles MQTT.js and Eclipse
 * Paho JavaScript ship in their npm packages. Each file is measured as
 * shipped (min) and gzipped at level 9, and once more after minifying it
 * with the same esbuild settings, so that a difference in minifiers does not
 * pass for a difference in code.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { transformSync } from "esbuild";

const root = resolve(import.meta.dirname, "../..");
const require = createRequire(import.meta.url);

export interface BundleSize {
  name: string;
  file: string;
  format: string;
  min: number;
  gzip: number;
  /** gzip -9 of the file after esbuild's minifier. */
  esbuildGzip: number;
}

function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

function version(name: string): string {
  return (
    JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8")) as { version: string }
  ).version;
}

function sizeOf(
  name: string,
  file: string,
  format: "esm" | "iife" | "umd",
  label: string,
): BundleSize {
  const code = readFileSync(file, "utf8");
  const gz = (s: string) => gzipSync(s, { level: 9 }).length;
  const reminified = transformSync(code, {
    minify: true,
    format: format === "esm" ? "esm" : undefined,
    target: "es2022",
    legalComments: "none",
  }).code;
  return {
    name,
    file: label,
    format,
    min: Buffer.byteLength(code),
    gzip: gz(code),
    esbuildGzip: gz(reminified),
  };
}

export function measureBundles(): BundleSize[] {
  const dir = mkdtempSync(join(tmpdir(), "starling-bench-bundle-"));
  try {
    const built = spawnSync(
      process.execPath,
      [join(root, "scripts/build-browser.mjs"), "--outdir", dir],
      { cwd: root, encoding: "utf8", timeout: 60_000 },
    );
    if (built.status !== 0) throw new Error(`browser build failed:\n${built.stderr}`);
    const mqttDir = packageDir("mqtt");
    const pahoDir = packageDir("paho-mqtt");
    return [
      sizeOf("Starling", join(dir, "starling-client.js"), "esm", "starling-client.js"),
      sizeOf("Starling", join(dir, "starling-client.iife.js"), "iife", "starling-client.iife.js"),
      sizeOf(
        `MQTT.js ${version("mqtt")}`,
        join(mqttDir, "dist/mqtt.esm.js"),
        "esm",
        "dist/mqtt.esm.js",
      ),
      sizeOf(
        `MQTT.js ${version("mqtt")}`,
        join(mqttDir, "dist/mqtt.min.js"),
        "iife",
        "dist/mqtt.min.js",
      ),
      sizeOf(
        `Paho JS ${version("paho-mqtt")}`,
        join(pahoDir, "paho-mqtt-min.js"),
        "umd",
        "paho-mqtt-min.js",
      ),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

export function bundleTable(rows: BundleSize[]): string {
  const ours = rows.find((r) => r.name === "Starling" && r.format === "esm");
  const lines = [
    "| client | file | format | min | min + gzip -9 | esbuild-minified + gzip -9 | vs Starling ESM (gzip) |",
    "|---|---|---|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const rel = ours === undefined ? "" : `${(r.gzip / ours.gzip).toFixed(2)}×`;
    lines.push(
      `| ${r.name} | \`${r.file}\` | ${r.format} | ${kib(r.min)} | ${kib(r.gzip)} | ${kib(r.esbuildGzip)} | ${rel} |`,
    );
  }
  return lines.join("\n");
}
