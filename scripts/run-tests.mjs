#!/usr/bin/env node
// Runs every test file under test/ with Node's own runner and tsx.
// Node 20's --test has no glob support, so the file list is built here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect(join(root, "test"), []);
if (filter.length > 0) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--test", "--test-reporter=spec", "--import", "tsx", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(result.status ?? 1);
