/**
 * External programs for interop tests: finding them, skipping loudly when
 * they are missing (failing instead under CI), and running them with a
 * deadline so that no test can hang or leave a process behind.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/** True when running under CI, where a missing program is a failure, not a skip. */
export const underCI = process.env.CI === "true";

/** The absolute path of `name` (searched on PATH unless already absolute), or undefined. */
export function findProgram(name: string): string | undefined {
  const candidates = isAbsolute(name)
    ? [name]
    : (process.env.PATH ?? "")
        .split(delimiter)
        .filter((dir) => dir !== "")
        .map((dir) => join(dir, name));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/**
 * Reports a missing prerequisite: under CI throws (the suite must fail),
 * otherwise warns loudly and returns the reason to pass as `skip`.
 */
export function missing(what: string, debianPackage: string): string {
  const reason = `not found: ${what}; install it with: sudo apt-get install ${debianPackage}`;
  if (underCI) throw new Error(`interop prerequisite missing under CI: ${reason}`);
  console.warn(`\n*** SKIPPING interop tests: ${reason} ***\n`);
  return reason;
}

/**
 * Checks that each program is installed. Returns `false` when all are present,
 * else a skip reason (after a loud console.warn); throws under CI.
 *
 * @example
 * ```ts
 * const skip = requirePrograms(["mosquitto_pub", "mosquitto_sub"], "mosquitto-clients");
 * describe("mosquitto clients", { skip }, () => { ... });
 * ```
 */
export function requirePrograms(names: readonly string[], debianPackage: string): string | false {
  const absent = names.filter((n) => findProgram(n) === undefined);
  if (absent.length === 0) return false;
  return missing(absent.join(", "), debianPackage);
}

/** Like {@link requirePrograms} for one program. */
export function requireProgram(name: string, debianPackage: string): string | false {
  return requirePrograms([name], debianPackage);
}

/**
 * Checks that `python` exists and can import `module`. Returns `false` when
 * it can, else a loud skip reason; throws under CI.
 */
export function requirePythonModule(
  python: string,
  module: string,
  debianPackage: string,
): string | false {
  if (findProgram(python) === undefined) return missing(python, debianPackage);
  const r = spawnSync(python, ["-c", `import ${module}`], { timeout: 10_000, stdio: "ignore" });
  if (r.status !== 0) return missing(`Python module ${module} (for ${python})`, debianPackage);
  return false;
}

/** How to run a program. */
export interface RunOptions {
  /** Deadline in ms (default 10 s): past it the program is killed and the run rejects. */
  timeoutMs?: number;
  /** Written to the program's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string | Uint8Array;
}

/** What a finished program did. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A started program: its output so far and a promise of its end. */
export interface Running {
  readonly child: ChildProcess;
  readonly pid: number | undefined;
  stdout(): string;
  stderr(): string;
  /** Resolves when the program exits; rejects (after killing it) past the deadline. */
  readonly done: Promise<RunResult>;
  /** Sends `signal` to the program if it is still running. */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts programs and kills whatever is still running on `killAll()` — call
 * that from an `after`/`afterEach` hook.
 */
export class Programs {
  readonly #running = new Set<Running>();

  /**
   * Starts `command` with `args`. Every run has a deadline (`timeoutMs`,
   * default 10 s): past it the program is killed with SIGKILL and `done`
   * rejects with its output so far.
   */
  start(command: string, args: readonly string[], options: RunOptions = {}): Running {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const { input } = options;
    const child = spawn(command, args, {
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (input !== undefined) {
      child.stdin?.on("error", () => {}); // the program may exit without reading it all
      child.stdin?.end(input);
    }
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8").on("data", (s: string) => {
      out += s;
    });
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      err += s;
    });
    const describe = () =>
      `${command} ${args.join(" ")}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`;
    const running: Running = {
      child,
      pid: child.pid,
      stdout: () => out,
      stderr: () => err,
      kill: (signal = "SIGTERM") => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
      done: new Promise<RunResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`timed out after ${timeoutMs} ms: ${describe()}`));
        }, timeoutMs);
        child.on("error", (e) => {
          clearTimeout(timer);
          this.#running.delete(running);
          reject(new Error(`could not run ${command}: ${e.message}`));
        });
        // "close" (not "exit") so that all output has been read.
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          this.#running.delete(running);
          resolve({ code, signal, stdout: out, stderr: err });
        });
      }),
    };
    // A rejection nobody awaits yet must not crash the test process.
    running.done.catch(() => {});
    this.#running.add(running);
    return running;
  }

  /** Runs `command` to completion; rejects on a non-zero exit or past the deadline. */
  async run(
    command: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    const p = this.start(command, args, options);
    const r = await p.done;
    if (r.code !== 0)
      throw new Error(
        `${command} ${args.join(" ")} exited with ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`,
      );
    return r;
  }

  /** Kills (SIGKILL) every program still running and waits for each to end. */
  async killAll(): Promise<void> {
    const left = [...this.#running];
    for (const p of left) p.kill("SIGKILL");
    await Promise.all(left.map((p) => p.done.catch(() => undefined)));
  }
}

/** Polls `predicate` every 10 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
