import test from "ava";
import { TypeRunners, typesRun } from "../../server/type-runners.ts";

const beat = (types: Record<string, { used: number; total: number }>) => ({ id: "i", facts: { types } });

test("a type is run where some live instance has a slot for it; a type at 0 is not", (t) => {
  const run = typesRun([beat({ count: { used: 0, total: 0 }, primes: { used: 1, total: 2 } }), beat({}), { facts: { types: "bad" } }]);
  t.deepEqual([...run], ["primes"]);
});

test("one read of the heartbeats answers for a few seconds, and an unanswered read says nothing", async (t) => {
  let reads = 0;
  let fail = false;
  const store = {
    instances: () => {
      reads++;
      return fail
        ? Promise.reject(new Error("no answer"))
        : Promise.resolve({ now: 0, instances: [beat({ count: { used: 0, total: 1 } })] });
    },
  };
  const runners = new TypeRunners(store, 5000);
  t.true(await runners.runs("count", 1000));
  t.false(await runners.runs("primes", 2000));
  t.is(reads, 1);
  fail = true;
  t.is(await runners.runs("count", 6000), null);
  t.is(reads, 2);
});
