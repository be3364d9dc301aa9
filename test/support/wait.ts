// Waiting for a condition, with a deadline, instead of sleeping. The deadline
// is the bound a test asserts: nothing measures elapsed time afterwards.
export interface WaitOptions {
  timeout?: number;
  interval?: number;
  message?: string | (() => string);
}

/**
 * For what happens "eventually": generous, because two busy cores can stall a
 * process for seconds. A test that names a bound passes its own timeout.
 */
export const DEFAULT_TIMEOUT = 20_000;

const describe = (message: WaitOptions["message"], fallback: string) => (typeof message === "function" ? message() : (message ?? fallback));

/** Polls fn until it returns a truthy value (which is returned), or fails after the deadline. */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeout = DEFAULT_TIMEOUT, interval = 25, message }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeout} ms waiting for ${describe(message, fn.toString())} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The value of a promise, or a failure once the deadline has passed. */
export async function within<T>(promise: Promise<T>, timeout: number, message: WaitOptions["message"]): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for ${describe(message, "a promise")}`)), timeout);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * For work whose length is the machine's speed times its size (hundreds of
 * job processes): polls fn until it returns a value, and fails only when
 * its progress (a count that grows as the work gets done) has not grown for
 * `stall` ms. A deadline for the whole would be a guess at the machine's
 * speed; a stall is what a stuck job looks like.
 */
export async function waitWhileProgressing<T>(
  fn: () => Promise<{ value: T | null; progress: number }>,
  { stall, interval = 250, message }: { stall: number; interval?: number; message: string },
): Promise<T> {
  let best = -Infinity;
  let since = Date.now();
  for (;;) {
    const { value, progress } = await fn();
    if (value !== null) return value;
    if (progress > best) {
      best = progress;
      since = Date.now();
    } else if (Date.now() - since > stall) {
      throw new Error(`no progress for ${stall} ms waiting for ${message} (progress: ${best})`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
