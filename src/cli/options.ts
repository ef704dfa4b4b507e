/** Shared parsing of CLI option values, with errors that name the flag, the value and what was expected. */
import { InvalidArgumentError } from "commander";

export function intOption(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}
