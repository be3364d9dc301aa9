// The counter's arithmetic and settings, shared by the form validation on
// the server and the counter script. Computed with BigInt: every value is a
// safe integer, but end - start can be nearly 2^54, which a double cannot
// hold exactly.
import type { TypeSettings } from "../core/settings.ts";

/** The counter's own settings (its declaration's `settings`). */
export const COUNT_SETTINGS = {
  /** The delay between two values. */
  COUNT_STEP_DELAY_MS: { default: 1000, min: 0, max: 3_600_000 },
  /** The most values one count may have. */
  COUNT_MAX_STEPS: { default: 1000, min: 1, max: 1_000_000 },
} as const satisfies TypeSettings;

export interface CountParams {
  start: number;
  end: number;
  increment: number;
}

export type CountField = keyof CountParams;
export const COUNT_FIELDS: readonly CountField[] = ["start", "end", "increment"];
export const COUNT_DEFAULTS: Readonly<CountParams> = { start: 1, end: 10, increment: 1 };

export type CountInput = Partial<Record<CountField, unknown>>;

export type CountCheck =
  | { ok: true; params: CountParams; total: number }
  | { ok: false; errors: Partial<Record<CountField, string>>; values: Record<CountField, string> };

const LABELS: Record<CountField, string> = { start: "Start", end: "End", increment: "Increment" };
const MIN = BigInt(Number.MIN_SAFE_INTEGER);
const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const INTEGER = /^[+-]?\d+$/;

function parseField(field: CountField, raw: unknown): { value?: bigint; error?: string } {
  if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === "")) {
    return { error: `Enter a whole number for ${LABELS[field].toLowerCase()}` };
  }
  if (typeof raw !== "string") return { error: `${LABELS[field]} must be a single whole number` };
  const text = raw.trim();
  if (!INTEGER.test(text)) return { error: `${LABELS[field]} must be a whole number, like 1 or -5` };
  const value = BigInt(text);
  if (value < MIN || value > MAX) {
    return { error: `${LABELS[field]} must be between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}` };
  }
  return { value };
}

/** Number of values start, start+increment, … that do not pass end. increment must point towards end. */
export function stepCount(start: bigint, end: bigint, increment: bigint): bigint {
  return (end - start) / increment + 1n;
}

/**
 * The checks across fields of a count whose fields are each valid: the
 * increment must be non-zero, point towards the end, and take at most
 * maxSteps steps. Returns a message per field, and the number of values.
 */
export function checkCountParams(params: CountParams, maxSteps: number): { errors: Partial<Record<CountField, string>>; total?: number } {
  const start = BigInt(params.start);
  const end = BigInt(params.end);
  const increment = BigInt(params.increment);
  if (increment === 0n) return { errors: { increment: "Increment must not be 0" } };
  if ((end > start && increment < 0n) || (end < start && increment > 0n)) {
    return {
      errors: {
        increment:
          end > start
            ? "Increment must be positive to count up from start to end"
            : "Increment must be negative to count down from start to end",
      },
    };
  }
  const steps = stepCount(start, end, increment);
  if (steps > BigInt(maxSteps)) {
    return {
      errors: { increment: `This would count ${steps} values; the most is ${maxSteps}. Use a larger increment or a shorter range` },
    };
  }
  return { errors: {}, total: Number(steps) };
}

/** A raw value as the form shows it back: a string or number as is, a repeated field joined, anything else (an object) as nothing. */
function shown(raw: unknown): string {
  if (typeof raw === "string" || typeof raw === "number") return String(raw);
  if (Array.isArray(raw)) return raw.map(shown).join(",");
  return "";
}

/** Validates raw form fields (strings) into count parameters, with one message per bad field. */
export function checkCount(input: CountInput, maxSteps: number): CountCheck {
  const values = {} as Record<CountField, string>;
  const errors: Partial<Record<CountField, string>> = {};
  const parsed: Partial<Record<CountField, bigint>> = {};
  for (const field of COUNT_FIELDS) {
    const raw = input[field];
    values[field] = shown(raw);
    const { value, error } = parseField(field, raw);
    if (error) errors[field] = error;
    else parsed[field] = value;
  }
  const { start, end, increment } = parsed;
  if (start !== undefined && end !== undefined && increment !== undefined) {
    if (increment === 0n) {
      errors.increment = "Increment must not be 0";
    } else if ((end > start && increment < 0n) || (end < start && increment > 0n)) {
      errors.increment =
        end > start
          ? "Increment must be positive to count up from start to end"
          : "Increment must be negative to count down from start to end";
    } else {
      const steps = stepCount(start, end, increment);
      if (steps > BigInt(maxSteps)) {
        errors.increment = `This would count ${steps} values; the most is ${maxSteps}. Use a larger increment or a shorter range`;
      }
    }
  } else if (increment === 0n) {
    errors.increment = "Increment must not be 0";
  }
  if (Object.keys(errors).length > 0 || start === undefined || end === undefined || increment === undefined) {
    return { ok: false, errors, values };
  }
  return {
    ok: true,
    params: { start: Number(start), end: Number(end), increment: Number(increment) },
    total: Number(stepCount(start, end, increment)),
  };
}

/** The values of a valid count, in order. */
export function* countValues({ start, end, increment }: CountParams): Generator<number> {
  const total = Number(stepCount(BigInt(start), BigInt(end), BigInt(increment)));
  for (let k = 0; k < total; k++) yield Number(BigInt(start) + BigInt(k) * BigInt(increment));
}
