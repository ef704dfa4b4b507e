/** The logging the core needs; pino's logger satisfies it. Libraries never console.log. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** Whether lines of `level` are written (pino's); without it, every level counts as on. */
  isLevelEnabled?(level: string): boolean;
}

/** A logger that drops everything (embedding without logs, tests). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  isLevelEnabled: () => false,
};
