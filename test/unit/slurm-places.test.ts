// The places of a deployment's submitted Slurm jobs (lua/slurm-places-1.lua,
// SLURM_MAX_SUBMITTED), against a real redis-server: a place is taken while
// one is free (or kept by the job that has it), renewed, given back, and a
// place nobody renewed lapses on Redis' clock.
import test from "ava";
import { useRedis } from "../support/redis.ts";
import { uniquePrefix } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";
import { JobStore } from "../../jobs/core/store.ts";

const redis = useRedis(test);

function store(): JobStore {
  return new JobStore(redis.client, { prefix: uniquePrefix("places"), ttlSucceededS: 60, ttlFailedS: 60 });
}

test("a place is taken while one of max is free, kept by the job that has it, and free again once given back", async (t) => {
  const s = store();
  t.true(await s.takeSlurmPlace("a", 2, 60_000));
  t.true(await s.takeSlurmPlace("b", 2, 60_000));
  t.false(await s.takeSlurmPlace("c", 2, 60_000), "no third place of two");
  t.true(await s.takeSlurmPlace("a", 2, 60_000), "a job that has one keeps it");
  t.is(await s.slurmPlaces("leave", ["a"], 60_000), 1);
  t.true(await s.takeSlurmPlace("c", 2, 60_000), "the place given back is free");
  t.is(await s.slurmPlaces("renew", [], 60_000), 2, "renewing none reads how many are taken");
});

test("a place nobody renews lapses; a renewed one does not", async (t) => {
  const s = store();
  t.true(await s.takeSlurmPlace("kept", 2, 300));
  t.true(await s.takeSlurmPlace("dropped", 2, 300));
  // Renewed for longer: "kept" outlives the 300 ms that "dropped" had.
  t.is(await s.slurmPlaces("renew", ["kept"], 60_000), 2);
  await waitFor(async () => (await s.slurmPlaces("renew", [], 60_000)) === 1, { message: "the unrenewed place to lapse" });
  t.false(await s.takeSlurmPlace("other", 1, 60_000), "the renewed place is still taken");
  t.true(await s.takeSlurmPlace("other", 2, 60_000));
});
