#!/usr/bin/env node
// Bundles the browser client (src/client/browser.ts) with esbuild into
//   dist/browser/starling-client.js       ESM, minified
//   dist/browser/starling-client.iife.js  IIFE, minified, global `Starling`
// and fails if anything in the graph imports a Node built-in (`node:*`, `net`,
// `buffer`, …) or the `ws` package: the browser bundle carries no Node module
// and no polyfill (ARCHITECTURE.md).
//
// Usage: node scripts/build-browser.mjs [--entry file.ts] [--outdir dir]
import { isBuiltin } from "node:module";
import { relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";

const root = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    entry: { type: "string", default: "src/client/browser.ts" },
    outdir: { type: "string", default: "dist/browser" },
  },
});
const entry = resolve(root, values.entry);
const outdir = resolve(root, values.outdir);

/** Packages that only work in Node, beside the built-ins. */
const nodeOnlyPackages = new Set(["ws"]);

/** Fails the build on any import of a Node built-in or Node-only package, naming the importer. */
const noNodeModules = {
  name: "no-node-modules",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (
        !isBuiltin(args.path) &&
        !args.path.startsWith("node:") &&
        !nodeOnlyPackages.has(args.path)
      ) {
        return undefined;
      }
      const importer = args.importer ? relative(root, args.importer) : "(entry)";
      return {
        errors: [
          {
            text: `"${args.path}" is Node-only, imported by ${importer}: the browser bundle must not contain Node built-ins or polyfills (keep Node code in src/client/transport/node-*.ts)`,
          },
        ],
      };
    });
  },
};

const common = {
  entryPoints: [entry],
  bundle: true,
  minify: true,
  sourcemap: true,
  target: "es2022",
  platform: "browser",
  legalComments: "none",
  logLevel: "warning",
  plugins: [noNodeModules],
};

try {
  const outputs = [
    { format: "esm", outfile: resolve(outdir, "starling-client.js") },
    { format: "iife", globalName: "Starling", outfile: resolve(outdir, "starling-client.iife.js") },
  ];
  // One after the other, so a bad import is reported once.
  for (const o of outputs) {
    await esbuild.build({ ...common, ...o });
    console.log(`build-browser: wrote ${relative(root, o.outfile)}`);
  }
} catch (err) {
  // esbuild has already printed the errors with their locations.
  console.error(`build-browser: failed (${err.errors?.length ?? 1} error(s))`);
  process.exit(1);
}
