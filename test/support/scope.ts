// Something a whole test file shares (a redis-server, an app, a browser):
// started in a hook, stopped after the last test, and usable as if it were
// there from the start. ava allows t.teardown() in tests only, so a file's
// shared things register hooks instead; inside a test, prefer the `t` forms.
import type { TestFn } from "ava";

/** Per test file: what to stop after the last test, the latest started first. */
const stops = new WeakMap<TestFn, (() => Promise<void>)[]>();

/**
 * Starts `start()` before the file's first test (in the order of the calls,
 * so one thing can use another) and stops it after the last one, even when a
 * test failed. Returns a stand-in that forwards to the started value; using it
 * before the hooks ran fails with a message that says so.
 */
export function fileScoped<T extends object>(test: TestFn, what: string, start: () => Promise<T>, stop: (value: T) => Promise<void>): T {
  let value: T | undefined;
  let stack = stops.get(test);
  if (!stack) {
    const list: (() => Promise<void>)[] = [];
    stops.set(test, list);
    test.after.always(async () => {
      // Every one is stopped even when one fails (an app's close() reports its API contract breaches): then the first failure is thrown.
      const failures: unknown[] = [];
      for (const close of list.reverse()) await close().catch((err: unknown) => failures.push(err));
      if (failures.length > 0) throw failures[0];
    });
    stack = list;
  }
  test.serial.before(async () => {
    value = await start();
  });
  stack.push(async () => {
    if (value) await stop(value);
  });
  return new Proxy({} as T, {
    get(_, key) {
      if (!value) throw new Error(`${what} is started before the first test: use it inside a test or a hook`);
      const member = Reflect.get(value, key, value) as unknown;
      return typeof member === "function" ? (member.bind(value) as unknown) : member;
    },
  });
}
