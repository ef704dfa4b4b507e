/**
 * Loads a configuration file of either format: starling.toml, or Mosquitto's
 * mosquitto.conf (chosen by `--mosquitto`, else recognised by its content).
 */
import { readFile } from "node:fs/promises";
import { type BrokerConfig, ConfigError } from "./model.js";
import { loadMosquittoConfig } from "./mosquitto.js";
import { parseTomlConfig } from "./toml.js";

export type ConfigFormat = "starling" | "mosquitto";

/**
 * Tells the formats apart: TOML has `key = value` lines and `[section]`
 * headers; mosquitto.conf has `directive value` lines and never `=` before
 * the first space.
 */
export function detectFormat(text: string): ConfigFormat {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) return "starling";
    const first = line.split(/\s+/)[0];
    if (first.includes("=") || /^\S+\s*=/.test(line)) return "starling";
    return "mosquitto";
  }
  return "starling";
}

export async function loadConfig(file: string, format?: ConfigFormat): Promise<BrokerConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  return (format ?? detectFormat(text)) === "mosquitto"
    ? loadMosquittoConfig(file)
    : parseTomlConfig(text, file);
}
