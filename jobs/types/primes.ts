// Prime numbers up to N: a Python program (primes.py, standard library
// only) run by the runner, the example of a command job type. It reports
// progress by chunks, a status line, one summary result, and writes the
// primes to primes.txt, a download on the job's page.
import type { JobType } from "../core/job-type.ts";
import type { Params } from "../core/fields.ts";

/** primes.txt holds about 7.8 bytes per number up to 10 million: 5.2 MB, within the runner's per-job limit on output files. */
export const PRIMES_MAX = 10_000_000;

const n = (params: Params) => Number(params.n);
const grouped = (value: number) => value.toLocaleString("en-GB");

export const primes: JobType = {
  name: "primes",
  title: "Find prime numbers",
  description: "Lists every prime number up to a limit you choose, with a sieve of Eratosthenes, and gives you the list as a text file.",
  submitLabel: "Find the primes",
  fields: [
    {
      name: "n",
      kind: "integer",
      label: "Up to",
      hint: `The largest number to check, from 2 to ${grouped(PRIMES_MAX)}.`,
      min: 2,
      max: PRIMES_MAX,
      default: 1_000_000,
    },
  ],
  run: { command: ["python3", "./primes.py"] },
  // CPU-bound (one core each): two at once per instance; more wait in the queue.
  concurrency: 2,
  timeoutMs: 10 * 60_000,
  check: (params) => ({ errors: {}, total: n(params) }),
  unit: ["number", "numbers"],
  jobTitle: (params) => `Prime numbers up to ${grouped(n(params))}`,
  jobDescription: (params) => `Finding every prime number from 2 to ${grouped(n(params))}`,
  ttlSucceededS: 86_400,
};
