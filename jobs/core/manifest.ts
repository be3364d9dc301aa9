// Job types from folders: JOB_TYPES_DIR lists folders (separated by ':'),
// each type a subfolder holding job.json, its declaration, next to its
// program. A manifest declares in JSON what a TypeScript type declares
// without code (jobs/core/job-type.ts, jobs/core/fields.ts use the same
// names); its jobTitle and jobDescription are templates over the parameters.
// MANIFEST_SCHEMA is the JSON Schema an editor checks a job.json with (the
// app serves it at /schemas/job.json; docs/job.schema.json is a copy).
import fs from "node:fs";
import path from "node:path";
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { RUN_ON_PLACES, SLURM_OPTIONS, validateJobType, type JobType } from "./job-type.ts";
import { isUploadRef, type Params } from "./fields.ts";
import { RETRYABLE_REASONS, type RetryableReason } from "./store/record.ts";

/** The file that makes a folder a job type. */
export const MANIFEST_FILE = "job.json";
/** Where the app serves MANIFEST_SCHEMA (its $id). */
export const MANIFEST_SCHEMA_PATH = "/schemas/job.json";

const closed = { additionalProperties: false } as const;
const Name = Type.String({ pattern: "^[a-z][a-z0-9-]{0,39}$", description: "URL-safe: lower-case letters, digits and '-'." });
const Text = (description: string) => Type.String({ minLength: 1, description });
const Whole = (description: string, minimum = 1) => Type.Integer({ minimum, description });
const literals = <T extends readonly string[]>(values: T, description?: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    description ? { description } : {},
  );

const FIELD_BASE = {
  name: Type.String({ pattern: "^[a-z][a-z0-9_]{0,39}$", description: "The parameter's name: lower-case letters, digits and '_'." }),
  label: Text("The field's label on the form."),
  hint: Type.Optional(Type.String({ description: "A line under the label." })),
  optional: Type.Optional(Type.Boolean({ description: "The field may be left empty (required by default)." })),
};
const FIELD_SCHEMAS = {
  integer: Type.Object(
    {
      ...FIELD_BASE,
      kind: Type.Literal("integer"),
      min: Type.Optional(Type.Integer()),
      max: Type.Optional(Type.Integer()),
      default: Type.Optional(Type.Integer({ description: "The form's starting value; an API submit that leaves the field out gets it." })),
    },
    { ...closed, description: "A whole number." },
  ),
  number: Type.Object(
    {
      ...FIELD_BASE,
      kind: Type.Literal("number"),
      min: Type.Optional(Type.Number()),
      max: Type.Optional(Type.Number()),
      default: Type.Optional(Type.Number({ description: "The form's starting value; an API submit that leaves the field out gets it." })),
    },
    { ...closed, description: "A number, decimals and scientific notation (5e-8) included." },
  ),
  text: Type.Object(
    {
      ...FIELD_BASE,
      kind: Type.Literal("text"),
      maxLength: Type.Integer({ minimum: 1, maximum: 1_000_000, description: "The most characters accepted." }),
      multiline: Type.Optional(Type.Boolean({ description: "Shown as a box of several lines." })),
      default: Type.Optional(Type.String()),
    },
    { ...closed, description: "Text." },
  ),
  choice: Type.Object(
    {
      ...FIELD_BASE,
      kind: Type.Literal("choice"),
      options: Type.Array(Type.Object({ value: Type.String({ minLength: 1 }), label: Text("What the form shows.") }, closed), {
        minItems: 1,
      }),
      default: Type.Optional(Type.String({ description: "One of the options' values." })),
    },
    { ...closed, description: "One of a list of options." },
  ),
  boolean: Type.Object(
    {
      ...FIELD_BASE,
      kind: Type.Literal("boolean"),
      ticked: Type.Optional(Type.Boolean({ description: "The empty form shows the box ticked (an absent value is still false)." })),
    },
    { ...closed, description: "A checkbox: true or false." },
  ),
  file: Type.Object(
    {
      ...FIELD_BASE,
      kind: Type.Literal("file"),
      accept: Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'File name endings and media types the picker offers: [".csv", "text/csv"].',
      }),
      text: Type.Optional(
        Type.Boolean({
          description:
            "true: the file must be text (no NUL byte, UTF-8), else refused as it arrives. Default false: any bytes, compressed too.",
        }),
      ),
    },
    { ...closed, description: "An uploaded file; the program finds it at SIDEJOB_INPUT_<NAME>." },
  ),
} as const;
const FIELD_KINDS = Object.keys(FIELD_SCHEMAS) as (keyof typeof FIELD_SCHEMAS)[];

const ManifestSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: "The address of this schema, for an editor." })),
    name: Name,
    title: Text('What the type does, as a heading: "Line statistics".'),
    description: Text("One line under the title."),
    submitLabel: Type.Optional(Text('The submit button: "Count the lines". Default: "Start".')),
    fields: Type.Array(Type.Union(FIELD_KINDS.map((k) => FIELD_SCHEMAS[k])), { description: "The form's fields, in order." }),
    run: Type.Object(
      {
        command: Type.Array(Type.String({ minLength: 1 }), {
          minItems: 1,
          description:
            'The program and its arguments, never through a shell: ["python3", "./tool.py", "{top}"]. argv[0] is looked up on PATH; ' +
            'an argument starting with "./" is a file in the type\'s folder; an argument that is exactly "{field}" is that parameter\'s value.',
        }),
      },
      closed,
    ),
    unit: Type.Optional(Type.Tuple([Text("One: row."), Text("Many: rows.")], { description: 'What progress counts: ["row", "rows"].' })),
    timeoutMs: Type.Optional(Whole("The time limit of one job (ms). Default: JOB_TIMEOUT_MS.")),
    concurrency: Type.Optional(Whole("How many jobs of this type one instance runs at once. Default: JOB_CONCURRENCY.")),
    ttlSucceededS: Type.Optional(Whole("How long a succeeded job is kept (s). Default: JOB_TTL_SUCCEEDED_S.")),
    ttlFailedS: Type.Optional(Whole("How long a failed or cancelled job is kept (s). Default: JOB_TTL_FAILED_S.")),
    maxAttempts: Type.Optional(Whole("Attempts in all for a job lost to the infrastructure. Default: JOB_MAX_ATTEMPTS.")),
    retryOn: Type.Optional(Type.Array(literals(RETRYABLE_REASONS), { description: "The program's own failures that are retried too." })),
    retryBackoffMs: Type.Optional(Whole("The wait before a second attempt (ms), doubled for each one after.", 0)),
    limits: Type.Optional(
      Type.Object(
        {
          memoryMB: Type.Optional(Whole("Memory of the whole job (MiB). Default: JOB_MEMORY_MB.")),
          cpuSeconds: Type.Optional(Whole("CPU time of each of its processes (s). Default: JOB_CPU_SECONDS.")),
          processes: Type.Optional(Whole("Processes and threads at once. Default: JOB_PROCESSES.")),
          fileSizeMB: Type.Optional(Whole("The largest file it may write (MiB). Default: JOB_FILE_SIZE_MB.")),
          outputMB: Type.Optional(Whole("What its output folder may hold (MiB). Default: JOB_OUTPUT_MB.")),
          openFiles: Type.Optional(Whole("Files open at once in each process. Default: JOB_OPEN_FILES.")),
        },
        { ...closed, description: "What one job's program may use, enforced by the kernel." },
      ),
    ),
    isolation: Type.Optional(
      Type.Object(
        {
          network: Type.Optional(Type.Boolean({ description: "false (the default): no network but loopback." })),
          filesystem: Type.Optional(
            literals(["private", "host"] as const, '"private" (the default): the system read-only and its own folders only.'),
          ),
        },
        { ...closed, description: "What its program sees of the host (bubblewrap)." },
      ),
    ),
    resubmit: Type.Optional(
      Type.Object(
        {
          memoryMB: Type.Optional(Whole("The memory limit of a second attempt, after memory-limit (MiB).")),
          timeoutMs: Type.Optional(Whole("The time limit of a second attempt, after timeout (ms).")),
        },
        { ...closed, description: "A job that hit its memory or time limit is queued once more with these." },
      ),
    ),
    runOn: Type.Optional(literals(RUN_ON_PLACES, '"local" (the default): a process of the instance; "slurm": a Slurm job.')),
    slurm: Type.Optional(
      Type.Object(
        {
          partition: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$", description: "The partition (sbatch --partition)." })),
          cpus: Type.Optional(Whole("CPUs of its one task (sbatch --cpus-per-task).")),
          options: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              description: `More sbatch options, each "--name=value", the name among ${SLURM_OPTIONS.join(", ")}.`,
            }),
          ),
        },
        { ...closed, description: 'With runOn "slurm": its sbatch options (memory and time come from limits.memoryMB and timeoutMs).' },
      ),
    ),
    publicLog: Type.Optional(Type.Boolean({ description: "Everyone who sees a job sees its log (default: operators only)." })),
    words: Type.Optional(
      Type.Object(
        {
          noun: Type.Optional(Text('One job in a sentence: "the check".')),
          started: Type.Optional(Text('Said once when a job starts: "The check has started."')),
          done: Type.Optional(Text('What was done to each unit, for "10 rows checked": "checked".')),
        },
        closed,
      ),
    ),
    jobTitle: Type.Optional(
      Text('One job\'s title, a template over its parameters: "Line stats of {file}, top {top}". Default: the title.'),
    ),
    jobDescription: Type.Optional(Text("A sentence about one job's parameters, a template as jobTitle.")),
  },
  closed,
);

export type Manifest = Static<typeof ManifestSchema>;

/**
 * TypeBox writes a tuple as draft 7 did (`items` a list, `additionalItems`),
 * which 2020-12 refuses: there it is `prefixItems`, and `items: false`.
 */
function tuplesAs2020(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tuplesAs2020);
  if (typeof node !== "object" || node === null) return node;
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, tuplesAs2020(v)]));
  if (Array.isArray(out.items)) {
    const { items, additionalItems, ...rest } = out;
    return { ...rest, prefixItems: items, items: additionalItems ?? false };
  }
  return out;
}

/** The JSON Schema (2020-12) of job.json, with its $id: what /schemas/job.json serves. */
export function manifestSchema(base = ""): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `${base}${MANIFEST_SCHEMA_PATH}`,
    title: "A sidejob job type (job.json)",
    ...(tuplesAs2020(JSON.parse(JSON.stringify(ManifestSchema))) as Record<string, unknown>),
  };
}

/** A folder's types, or the problems that keep them from loading: one line each, naming the file. */
export interface LoadedTypes {
  types: JobType[];
  problems: string[];
}

/** "fields[1].max" from "/fields/1/max". */
const where = (pointer: string) =>
  pointer
    .split("/")
    .slice(1)
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : `${i === 0 ? "" : "."}${part}`))
    .join("") || "(the whole file)";

function schemaProblems(schema: TSchema, value: unknown, prefix = ""): string[] {
  const out = new Map<string, string>();
  for (const e of Value.Errors(schema, value)) {
    const inner = where(e.path);
    const at = prefix ? (e.path === "" ? prefix : `${prefix}${inner.startsWith("[") ? "" : "."}${inner}`) : inner;
    // The first thing wrong at a place is the one said (a missing key is not also "expected string").
    if (out.has(at)) continue;
    const anyOf = (e.schema as { anyOf?: { const?: unknown }[] }).anyOf;
    if (e.message === "Unexpected property") out.set(at, "there is no such key (a typo?)");
    else if (anyOf?.every((s) => s.const !== undefined)) out.set(at, `must be one of ${anyOf.map((s) => String(s.const)).join(", ")}`);
    else if (e.message.startsWith("Expected required property")) out.set(at, "is required");
    else out.set(at, e.message.replace(/^Expected/, "expected"));
  }
  return [...out].map(([at, what]) => `${at}: ${what}`);
}

/** Checks a parsed job.json: the problems, each "where: what" (an empty list: valid). */
export function manifestProblems(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return ["(the whole file): must be a JSON object"];
  const { fields, ...rest } = value as Record<string, unknown>;
  // The fields one by one, each against its kind's schema: a union's errors would say nothing useful.
  const problems = schemaProblems(Type.Omit(ManifestSchema, ["fields"]), rest);
  if (!Array.isArray(fields))
    problems.push(fields === undefined ? "fields: is required (an empty list for none)" : "fields: must be a list");
  else {
    fields.forEach((field: unknown, i) => {
      const kind = (field as { kind?: unknown } | null)?.kind;
      if (typeof kind !== "string" || !(kind in FIELD_SCHEMAS))
        problems.push(`fields[${i}].kind: must be one of ${FIELD_KINDS.join(", ")}`);
      else problems.push(...schemaProblems(FIELD_SCHEMAS[kind as keyof typeof FIELD_SCHEMAS], field, `fields[${i}]`));
    });
  }
  if (problems.length > 0) return problems;
  const manifest = value as Manifest;
  const names = new Set(manifest.fields.map((f) => f.name));
  for (const key of ["jobTitle", "jobDescription"] as const) {
    for (const [, name] of (manifest[key] ?? "").matchAll(/\{([^{}]*)\}/g)) {
      if (!names.has(name!)) problems.push(`${key}: {${name}} is not a field (the fields are ${[...names].join(", ") || "none"})`);
    }
  }
  manifest.fields.forEach((f, i) => {
    if ((f.kind === "integer" || f.kind === "number") && f.min !== undefined && f.max !== undefined && f.min > f.max)
      problems.push(`fields[${i}].max: is below min`);
    if ((f.kind === "integer" || f.kind === "number") && f.default !== undefined) {
      if ((f.min !== undefined && f.default < f.min) || (f.max !== undefined && f.default > f.max))
        problems.push(`fields[${i}].default: is outside min and max`);
    }
    if (f.kind === "choice" && f.default !== undefined && !f.options.some((o) => o.value === f.default))
      problems.push(`fields[${i}].default: is not one of the options' values`);
    if (f.kind === "text" && f.default !== undefined && [...f.default].length > f.maxLength)
      problems.push(`fields[${i}].default: is longer than maxLength`);
  });
  return problems;
}

/** A parameter as a title shows it: an upload by its file name. */
function shown(value: Params[string] | undefined): string {
  if (value === undefined) return "";
  if (isUploadRef(value)) return value.name;
  return String(value);
}

/** "Line stats of {file}" over a job's parameters. */
export function fillTemplate(template: string, params: Params): string {
  return template.replace(/\{([a-z][a-z0-9_]*)\}/g, (_, name: string) => shown(params[name]));
}

/** The JobType a valid manifest declares; dir: the type's folder, where its "./" files are. */
export function manifestType(manifest: Manifest, dir: string): JobType {
  const { jobTitle, jobDescription, fields, $schema: _, ...rest } = manifest;
  return {
    ...rest,
    submitLabel: manifest.submitLabel ?? "Start",
    fields,
    run: { command: manifest.run.command },
    unit: manifest.unit,
    retryOn: manifest.retryOn as RetryableReason[] | undefined,
    isolation: manifest.isolation as JobType["isolation"],
    runOn: manifest.runOn as JobType["runOn"],
    dir,
    jobTitle: (params) => (jobTitle ? fillTemplate(jobTitle, params) : manifest.title),
    ...(jobDescription ? { jobDescription: (params: Params) => fillTemplate(jobDescription, params) } : {}),
  };
}

/** One folder's job.json, as a type, or its problems, each line naming the file. */
export function loadManifest(dir: string): { type: JobType | null; problems: string[] } {
  const file = path.join(dir, MANIFEST_FILE);
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return {
      type: null,
      problems: [`${file}: ${e.code === "ENOENT" ? "no such file" : e.code ? e.message : `not valid JSON: ${e.message}`}`],
    };
  }
  const problems = manifestProblems(value);
  if (problems.length > 0) return { type: null, problems: problems.map((p) => `${file}: ${p}`) };
  const type = manifestType(value as Manifest, dir);
  try {
    validateJobType(type);
  } catch (err) {
    return { type: null, problems: [`${file}: ${(err as Error).message}`] };
  }
  return { type, problems: [] };
}

/**
 * The types of JOB_TYPES_DIR's folders, in order: each subfolder that is not
 * hidden is a type and must hold a job.json. `taken`: names already used (the
 * built-in types'); a manifest may not take one.
 */
export function loadTypeFolders(dirs: readonly string[], taken: readonly string[] = []): LoadedTypes {
  const types: JobType[] = [];
  const problems: string[] = [];
  const seen = new Map(taken.map((name) => [name, "a built-in type"]));
  for (const dir of dirs) {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      problems.push(`${dir}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder" : (err as Error).message}`);
      continue;
    }
    for (const entry of entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).sort((a, b) => a.name.localeCompare(b.name))) {
      const folder = path.join(dir, entry.name);
      const loaded = loadManifest(folder);
      problems.push(...loaded.problems);
      if (!loaded.type) continue;
      const file = path.join(folder, MANIFEST_FILE);
      const other = seen.get(loaded.type.name);
      if (other) {
        problems.push(`${file}: name: ${JSON.stringify(loaded.type.name)} is already the name of ${other}`);
        continue;
      }
      seen.set(loaded.type.name, file);
      types.push(loaded.type);
    }
  }
  return { types, problems };
}
