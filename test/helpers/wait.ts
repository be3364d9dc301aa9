// Waiting for a condition, with a deadline, instead of sleeping.
export interface WaitOptions {
  timeout?: number;
  interval?: number;
  message?: string | (() => string);
}

/** Polls fn until it returns a truthy value (which is returned), or fails after the deadline. */
export async function waitFor<T>(fn: () => T | Promise<T>, { timeout = 10_000, interval = 25, message }: WaitOptions = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${typeof message === "function" ? message() : (message ?? fn.toString())} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
