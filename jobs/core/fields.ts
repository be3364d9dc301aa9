// A job type's fields: one declaration drives the HTML form, the validation of
// a form post and of a JSON body (one rule for both: values are read as text,
// and a JSON number as its decimal text), and the JSON Schema of the API.
//
// A field's value reaches the job as: integer and number -> number, text and
// choice -> string, boolean -> true/false, file -> the stored upload's
// reference (see the upload handling on the server).

interface FieldBase {
  /** The parameter's name: letters, digits and '_' ([a-z][a-z0-9_]*). */
  name: string;
  label: string;
  hint?: string;
  /** Optional fields may be left empty; required is the default. */
  optional?: boolean;
}

export interface IntegerField extends FieldBase {
  kind: "integer";
  min?: number;
  max?: number;
  default?: number;
}

export interface NumberField extends FieldBase {
  kind: "number";
  min?: number;
  max?: number;
  default?: number;
}

export interface TextField extends FieldBase {
  kind: "text";
  maxLength: number;
  /** Shown as a multi-line box. */
  multiline?: boolean;
  default?: string;
}

export interface ChoiceField extends FieldBase {
  kind: "choice";
  options: readonly { value: string; label: string }[];
  default?: string;
}

export interface BooleanField extends FieldBase {
  kind: "boolean";
  /**
   * The empty form shows the box ticked. Its value when absent is still
   * false, for a JSON body as for a form (an unticked box sends nothing), so
   * a box is never said to default to true: the API would then disagree.
   */
  ticked?: boolean;
}

export interface FileField extends FieldBase {
  kind: "file";
  /** File name endings and media types the picker offers, e.g. [".csv", "text/csv"]. */
  accept: readonly string[];
  /**
   * true: the file must be text (no NUL byte, UTF-8 in its first 64 KB),
   * checked as it arrives. Default false: any bytes, binary and compressed
   * files included.
   */
  text?: boolean;
  /**
   * What a refused file is told, in the type's own words ({name}: the file's
   * name), where the generic words would not help: a file that is empty, or
   * (with `text`) holds a NUL byte, or is not UTF-8.
   */
  refusals?: { empty?: string; notText?: string; notUtf8?: string };
}

export type Field = IntegerField | NumberField | TextField | ChoiceField | BooleanField | FileField;

/**
 * A file field's value: the upload the server stored (in Redis, under the
 * job's keys). The name is the one the browser sent, kept only to show it
 * (escaped), never used as a path.
 */
export interface UploadRef {
  name: string;
  size: number;
}

export function isUploadRef(value: unknown): value is UploadRef {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const { name, size } = value as Record<string, unknown>;
  return typeof name === "string" && typeof size === "number" && Number.isSafeInteger(size) && size > 0 && Object.keys(value).length === 2;
}

export type FieldValue = number | string | boolean | UploadRef;
export type Params = Record<string, FieldValue>;

export type FieldCheck = { ok: true; params: Params } | { ok: false; errors: Record<string, string>; values: Record<string, string> };

const INTEGER = /^[+-]?\d+$/;
/** A decimal number, in scientific notation too (5e-8, 6.02E23). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** "Start" -> "start"; an acronym stays: "CSV file". */
const lower = (label: string) => (/^[A-Z]{2}/.test(label) ? label : label.charAt(0).toLowerCase() + label.slice(1));
// Made on first use: a job bundle's startup snapshot cannot hold an Intl object.
let numberText: Intl.NumberFormat | undefined;
const NUMBER_TEXT = {
  format: (n: number) => (numberText ??= new Intl.NumberFormat("en-GB", { useGrouping: false, maximumFractionDigits: 20 })).format(n),
};

/**
 * The text a raw value stands for: a form's string, or a JSON number as its
 * decimal text, which is then checked as a form's text is (one rule for
 * both: 1.5 is not a whole number, 2^60 is out of range). JSON cannot tell
 * 1e2 from 100 once parsed; the string "1e2" is refused, as in the form.
 */
function asText(raw: unknown): string | undefined | null {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "string") return raw;
  // An integer as its exact digits (2^60 is 1152921504606846976, which the range check then refuses).
  if (typeof raw === "number" && Number.isFinite(raw)) {
    if (Number.isInteger(raw)) return BigInt(raw).toString();
    // Plain decimals where they are exact (0.0000001); scientific notation where they would not be (1e-25).
    const text = NUMBER_TEXT.format(raw);
    return Number(text) === raw ? text : String(raw);
  }
  if (typeof raw === "boolean") return String(raw);
  return null; // an array (a repeated form field), an object
}

function checkOne(field: Field, raw: unknown): { value?: FieldValue; error?: string } {
  if (field.kind === "file") {
    // The server stores the upload first and passes its reference; text (a JSON body, a form's field) is no file.
    if (isUploadRef(raw)) return { value: { name: raw.name, size: raw.size } };
    return raw === undefined && field.optional ? {} : { error: emptyMessage(field) };
  }
  if (field.kind === "boolean") {
    // An unticked checkbox sends nothing.
    const text = asText(raw);
    if (text === undefined || text === "" || text === "false" || text === "off" || text === "no") return { value: false };
    if (text === "true" || text === "on" || text === "yes" || text === "1") return { value: true };
    return { error: `${field.label} must be yes or no` };
  }
  const text = asText(raw);
  if (text === null) return { error: `${field.label} must be a single value` };
  const trimmed = text?.trim() ?? "";
  if (trimmed === "") return field.optional ? {} : { error: emptyMessage(field) };
  switch (field.kind) {
    case "integer": {
      if (!INTEGER.test(trimmed)) return { error: `${field.label} must be a whole number, like 1 or -5` };
      const min = field.min ?? Number.MIN_SAFE_INTEGER;
      const max = field.max ?? Number.MAX_SAFE_INTEGER;
      const big = BigInt(trimmed);
      if (big < BigInt(min) || big > BigInt(max)) return { error: `${field.label} must be between ${min} and ${max}` };
      return { value: Number(big) };
    }
    case "number": {
      const value = Number(trimmed);
      if (!DECIMAL.test(trimmed) || !Number.isFinite(value)) return { error: `${field.label} must be a number, like 2.5 or 5e-8` };
      if ((field.min !== undefined && value < field.min) || (field.max !== undefined && value > field.max)) {
        return { error: `${field.label} must be between ${field.min ?? "-∞"} and ${field.max ?? "∞"}` };
      }
      return { value };
    }
    case "text":
      if ([...text!].length > field.maxLength) return { error: `${field.label} must be at most ${field.maxLength} characters` };
      return { value: text! };
    case "choice":
      if (!field.options.some((o) => o.value === trimmed)) {
        return { error: `${field.label} must be one of: ${field.options.map((o) => o.label).join(", ")}` };
      }
      return { value: trimmed };
  }
}

function emptyMessage(field: Field): string {
  switch (field.kind) {
    case "integer":
      return `Enter a whole number for ${lower(field.label)}`;
    case "number":
      return `Enter a number for ${lower(field.label)}`;
    case "choice":
      return `Choose ${lower(field.label)}`;
    case "file":
      return `Choose the ${lower(field.label)}`;
    default:
      return `Enter ${lower(field.label)}`;
  }
}

/** The text a form shows for a raw value (kept as typed when it was refused). */
export function displayValue(raw: unknown): string {
  const text = asText(raw);
  return typeof text === "string" ? text : "";
}

/**
 * Checks raw values (a parsed form or JSON body) against the fields, with one
 * message per bad field. fillDefaults: false checks stored parameters as they
 * are (a record missing a field no longer fits its type, default or not).
 */
export function checkFields(fields: readonly Field[], input: Record<string, unknown>, { fillDefaults = true } = {}): FieldCheck {
  const params: Params = {};
  const errors: Record<string, string> = {};
  const values: Record<string, string> = {};
  for (const field of fields) {
    // A field left out (a JSON body without it) takes its default; one sent empty (a form's blank box) does not.
    const given = Object.hasOwn(input, field.name) ? input[field.name] : undefined;
    const raw = fillDefaults && given === undefined && "default" in field && field.default !== undefined ? field.default : given;
    values[field.name] = field.kind === "boolean" ? String(checkOne(field, raw).value === true) : displayValue(raw);
    const { value, error } = checkOne(field, raw);
    if (error) errors[field.name] = error;
    else if (value !== undefined) params[field.name] = value;
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors, values } : { ok: true, params };
}

/** The form's starting values. */
export function defaultValues(fields: readonly Field[]): Record<string, string> {
  return Object.fromEntries(
    fields.map((f) => [
      f.name,
      f.kind === "boolean" ? String(f.ticked === true) : f.kind === "file" || f.default === undefined ? "" : String(f.default),
    ]),
  );
}

/**
 * The fields a body holds that the form does not declare. A JSON body must
 * hold only its fields (they are refused, not dropped); a form's are ignored,
 * as a page's form carries more than its fields (a token, a button's name).
 */
export function unknownFields(fields: readonly Field[], input: Record<string, unknown>): Record<string, string> {
  const known = new Set(fields.map((f) => f.name));
  return Object.fromEntries(
    Object.keys(input)
      .filter((name) => !known.has(name))
      .map((name) => [name, `There is no field ${JSON.stringify(name.slice(0, 64))} in this form`]),
  );
}

/**
 * The JSON Schema (2020-12, as OpenAPI 3.1 uses) of a type's parameters. A
 * field with a default may be left out (it then takes that value), so it is
 * not required. A boolean's absent value is false, its `default`.
 */
export function jsonSchema(fields: readonly Field[]): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const f of fields) {
    const base = { title: f.label, ...(f.hint ? { description: f.hint } : {}) };
    switch (f.kind) {
      case "integer":
        properties[f.name] = {
          ...base,
          type: "integer",
          minimum: f.min ?? Number.MIN_SAFE_INTEGER,
          maximum: f.max ?? Number.MAX_SAFE_INTEGER,
          ...(f.default !== undefined ? { default: f.default } : {}),
        };
        break;
      case "number":
        properties[f.name] = {
          ...base,
          type: "number",
          ...(f.min !== undefined ? { minimum: f.min } : {}),
          ...(f.max !== undefined ? { maximum: f.max } : {}),
          ...(f.default !== undefined ? { default: f.default } : {}),
        };
        break;
      case "text":
        properties[f.name] = {
          ...base,
          type: "string",
          maxLength: f.maxLength,
          ...(f.default !== undefined ? { default: f.default } : {}),
        };
        break;
      case "choice":
        properties[f.name] = {
          ...base,
          type: "string",
          enum: f.options.map((o) => o.value),
          ...(f.default !== undefined ? { default: f.default } : {}),
        };
        break;
      case "boolean":
        properties[f.name] = { ...base, type: "boolean", default: false };
        break;
      case "file":
        properties[f.name] = {
          ...base,
          type: "string",
          format: "binary",
          contentMediaType: f.accept.find((a) => a.includes("/")) ?? "application/octet-stream",
        };
        break;
    }
  }
  const required = fields
    .filter((f) => !f.optional && f.kind !== "boolean" && !("default" in f && f.default !== undefined))
    .map((f) => f.name);
  return { type: "object", properties, required, additionalProperties: false };
}
