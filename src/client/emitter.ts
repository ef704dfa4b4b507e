/** A small typed event emitter (browser-safe: no node:events). */
type Listener = (...args: unknown[]) => void;

export class Emitter<Events extends Record<string, unknown[]>> {
  #listeners = new Map<keyof Events, Set<Listener>>();

  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as unknown as Listener);
    return this;
  }

  off<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    this.#listeners.get(event)?.delete(listener as unknown as Listener);
    return this;
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const l of [...set]) {
      try {
        l(...args);
      } catch (err) {
        // A listener's error must not break the client: report it asynchronously, as browsers do.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}
