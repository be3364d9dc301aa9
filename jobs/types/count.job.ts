// The counter's work: `node build/jobs/count.js <jobId>` (declared in count.ts).
//
// Reads:  the job record (params: start, end, increment), its settings
//         COUNT_STEP_DELAY_MS and COUNT_MAX_STEPS (counting.ts).
// Writes: one progress report per value (done, and the value appended to the
//         job's results), then the job's end: succeeded, cancelled or failed.
// Exits:  as every job script does (see kit.ts): 0 succeeded or cancelled,
//         1 failed, 2 bad invocation, 3 could not start, 4 fenced.
import { checkCount, countValues, COUNT_SETTINGS } from "./counting.ts";
import { settingValues } from "../core/settings.ts";
import { runJob } from "../runtime/kit.ts";

await runJob("count", async ({ job, config, report, sleep }) => {
  const { COUNT_STEP_DELAY_MS, COUNT_MAX_STEPS } = settingValues(COUNT_SETTINGS, config);
  const { start, end, increment } = job.params;
  const check = checkCount({ start: String(start), end: String(end), increment: String(increment) }, COUNT_MAX_STEPS);
  if (!check.ok) throw new Error(`Invalid parameters: ${Object.values(check.errors).join("; ")}`);

  let done = 0;
  for (const value of countValues(check.params)) {
    if (done > 0) await sleep(COUNT_STEP_DELAY_MS);
    done += 1;
    await report(done, [value]);
  }
});
