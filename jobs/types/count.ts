// The counter: counts from a start number to an end number by an increment,
// one value per step, with a delay between steps. The seed's own demo, and
// the example of a Node job type (its work is in count.job.ts).
import type { JobType } from "../core/job-type.ts";
import type { Params } from "../core/fields.ts";
import { checkCountParams, COUNT_DEFAULTS, COUNT_SETTINGS } from "./counting.ts";
import { formatNumber as f } from "../core/format.ts";
import { settingValues, type JobSettings } from "../core/settings.ts";

const p = (params: Params) => params as { start: number; end: number; increment: number };
const own = (settings: JobSettings) => settingValues(COUNT_SETTINGS, settings);

export const count: JobType = {
  name: "count",
  title: "Count in the background",
  description:
    "Count from a start number to an end number, one step at a time. The count runs as its own process: you can leave the page and come back, and it carries on.",
  submitLabel: "Start counting",
  fields: [
    { name: "start", kind: "integer", label: "Start", hint: "The first number, for example 1.", default: COUNT_DEFAULTS.start },
    { name: "end", kind: "integer", label: "End", hint: "The count stops before it passes this number.", default: COUNT_DEFAULTS.end },
    {
      name: "increment",
      kind: "integer",
      label: "Increment",
      hint: "Added at each step. Use a negative number to count down.",
      default: COUNT_DEFAULTS.increment,
    },
  ],
  run: { node: "count.job.ts" },
  settings: COUNT_SETTINGS,
  // A count mostly sleeps: many may run at once without taking CPUs from other work.
  concurrency: 8,
  check: (params, settings) => checkCountParams(p(params), own(settings).COUNT_MAX_STEPS),
  unit: ["value", "values"],
  jobTitle: (params) => `Count from ${f(p(params).start)} to ${f(p(params).end)}`,
  jobDescription: (params) => `Counting from ${f(p(params).start)} to ${f(p(params).end)} by ${f(p(params).increment)}.`,
  estimateMs: ({ done, total }, settings) => Math.max(0, total - Math.max(done, 1)) * own(settings).COUNT_STEP_DELAY_MS,
  resultsTemplate: "types/count-results",
  words: { noun: "the count", started: "Counting has started.", done: "counted" },
  formNote: (settings) => `At most ${f(own(settings).COUNT_MAX_STEPS)} values in one count.`,
  // The article's addresses: the form posts to /count, and /count/1/10?increment=2 fills it in.
  aliases: { post: "/count", fill: "/count/:start/:end" },
};
