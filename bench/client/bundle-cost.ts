/**
 * Where the browser bundle's gzipped bytes go: for each source file, how
 * many bytes the gzipped bundle loses when that file's share of the minified
 * output is cut out (its marginal cost — what deleting it would save, given
 * that gzip shares context across files). Minified bytes alone mislead:
 * repeated keys and names compress to almost nothing.
 *
 * Usage: npx tsx bench/client/bundle-cost.ts
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { SourceMap } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { buildSync } from "esbuild";

const root = resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "starling-bundle-cost-"));
try {
  const out = join(dir, "client.js");
  buildSync({
    entryPoints: [join(root, "src/client/browser.ts")],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    legalComments: "none",
    outfile: out,
  });
  const js = readFileSync(out, "utf8");
  const map = new SourceMap(JSON.parse(readFileSync(`${out}.map`, "utf8")));
  // The source file of every output character (line by line: the bundle has few lines).
  const owner: string[] = [];
  const lines = js.split("\n");
  for (let l = 0; l < lines.length; l++) {
    for (let c = 0; c < lines[l].length; c++) {
      const e = map.findEntry(l, c) as { originalSource?: string };
      owner.push((e.originalSource ?? "(bundler)").replace(/^.*\/src\//, "src/"));
    }
    owner.push("(bundler)");
  }
  const total = gzipSync(js, { level: 9 }).length;
  const rows: [string, number, number][] = [];
  for (const file of new Set(owner)) {
    let rest = "";
    let raw = 0;
    for (let i = 0; i < js.length; i++) {
      if (owner[i] === file) raw++;
      else rest += js[i];
    }
    rows.push([file, raw, total - gzipSync(rest, { level: 9 }).length]);
  }
  rows.sort((a, b) => b[2] - a[2]);
  console.log(`bundle: ${js.length} B minified, ${total} B min+gzip -9\n`);
  console.log("| source | minified B | marginal gzip B |\n|---|---:|---:|");
  for (const [file, raw, gz] of rows) console.log(`| ${file} | ${raw} | ${gz} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
