// At most n tests of a file at once past a gate: for files whose every test
// starts an app of its own with real job processes. Twenty of them at once
// in one process stall its event loop for seconds on two busy cores, which
// no deadline in a test should have to allow for.
import type { ExecutionContext } from "ava";

export interface Gate {
  /** Waits for a place, held until the test ends (released after the teardowns registered later, such as its app's close); a test already inside passes. */
  enter(t: ExecutionContext): Promise<void>;
}

export function gate(places: number): Gate {
  let free = places;
  const waiting: (() => void)[] = [];
  const inside = new WeakSet<ExecutionContext>();
  return {
    async enter(t) {
      if (inside.has(t)) return;
      inside.add(t);
      if (free > 0) free--;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      // ava runs teardowns in reverse order: this one after the test's own.
      t.teardown(() => {
        const next = waiting.shift();
        if (next) next();
        else free++;
      });
    },
  };
}
