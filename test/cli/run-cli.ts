/**
 * Running `starling` as a user does (`node --import tsx src/cli/main.ts …`
 * from the repository root) and other programs next to it, with output kept
 * as bytes, an environment of their own, a deadline, and a `killAll()` for
 * teardown so that no test leaves a process behind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** The argv prefix that runs the CLI: `node --import tsx src/cli/main.ts`. */
export const starling = [process.execPath, "--import", "tsx", "src/cli/main.ts"] as const;

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface Proc {
  readonly child: ChildProcess;
  stdout(): Buffer;
  stderr(): string;
  /** Resolves when the program exits; rejects (after SIGKILL) past the deadline. */
  readonly done: Promise<Result>;
  kill(signal?: NodeJS.Signals): void;
}

export interface StartOptions {
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string | Uint8Array;
  /** Added to the environment. */
  env?: Record<string, string>;
  /** Deadline in ms (default 30 s). */
  timeoutMs?: number;
}

/** Signals the process group `child` leads (see `detached` below), if it still runs. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Starts programs and kills whatever still runs on {@link killAll} (call it from `after`/`afterEach`). */
export class Procs {
  readonly #running = new Set<Proc>();

  start(command: string, args: readonly string[], options: StartOptions = {}): Proc {
    const timeoutMs = options.timeoutMs ?? 30_000;
    // Each program leads its own process group, so killing it also kills what it started
    // (the CLI behind `sh -c "… | grep x"` would otherwise hold the pipe open).
    const child = spawn(command, args, {
      detached: true,
      cwd: root,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (options.input !== undefined) {
      child.stdin?.on("error", () => {});
      child.stdin?.end(options.input);
    }
    const out: Buffer[] = [];
    let err = "";
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      err += s;
    });
    const describe = () =>
      `${command} ${args.join(" ")}\n--- stdout ---\n${Buffer.concat(out).toString()}\n--- stderr ---\n${err}`;
    const proc: Proc = {
      child,
      stdout: () => Buffer.concat(out),
      stderr: () => err,
      kill: (signal = "SIGTERM") => killGroup(child, signal),
      done: new Promise<Result>((resolve, reject) => {
        const timer = setTimeout(() => {
          killGroup(child, "SIGKILL");
          reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`));
        }, timeoutMs);
        child.on("error", (e) => {
          clearTimeout(timer);
          this.#running.delete(proc);
          reject(new Error(`could not run ${command}: ${e.message}`));
        });
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          this.#running.delete(proc);
          resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
        });
      }),
    };
    proc.done.catch(() => {});
    this.#running.add(proc);
    return proc;
  }

  /** Starts `starling ARGS`. */
  cli(args: readonly string[], options: StartOptions = {}): Proc {
    return this.start(starling[0], [...starling.slice(1), ...args], options);
  }

  /** Runs `sh -c SCRIPT` (for real pipes: `seq 10 | starling pub -l`); `$STARLING` runs the CLI. */
  sh(script: string, options: StartOptions = {}): Proc {
    const env = { ...options.env, STARLING: starling.join(" ") };
    return this.start("/bin/sh", ["-c", script], { ...options, env });
  }

  async killAll(): Promise<void> {
    const left = [...this.#running];
    for (const p of left) p.kill("SIGKILL");
    await Promise.all(left.map((p) => p.done.catch(() => undefined)));
  }
}

/** Polls `predicate` every 20 ms; rejects with `what()` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean,
  what: () => string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `starling sub … -d` and resolves once it reports every subscription (on stderr). */
export async function subscribed(
  procs: Procs,
  args: readonly string[],
  options: StartOptions = {},
): Promise<Proc> {
  const p = procs.cli(["sub", "-d", ...args], options);
  const filters = args.filter((_, i) => args[i - 1] === "-t");
  await waitFor(
    () =>
      filters.every((f) => p.stderr().includes(`subscribed to ${f} `)) || p.child.exitCode !== null,
    () => `starling sub to subscribe to ${filters.join(", ")}:\n${p.stderr()}`,
  );
  return p;
}

/** Runs `starling ARGS` from the repository root to completion (short commands: --check, inspect). */
export function runCliSync(args: readonly string[]): {
  code: number;
  stdout: string;
  stderr: string;
} {
  const [node, ...prefix] = starling;
  try {
    const stdout = execFileSync(node, [...prefix, ...args], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { code: 0, stdout, stderr: "" };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}
