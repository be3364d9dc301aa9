// The JSON the API answers, declared once: each schema is both the type the
// code that builds an answer must return (Static<...>: job-json.ts, errors.ts,
// the routes) and the schema the OpenAPI document publishes (openapi.ts), so
// the two cannot disagree. Answers are closed (additionalProperties: false):
// a new field is added here, where the compiler then asks for it to be built.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { END_REASONS, JOB_STATES } from "../jobs/core/store.ts";

/** A string from a fixed list, as JSON Schema's `enum` (a generated client gets a union of literals). */
const StringEnum = <T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
const Nullable = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description ? { description } : {});
const DateTime = Type.String({ format: "date-time" });
const closed = { additionalProperties: false } as const;

export const JobIdSchema = Type.String({ pattern: "^[0-9a-f]{32}$", description: "The job's id: 32 hex digits." });

/** 202 of a submit: where the job is. */
export const CreatedSchema = Type.Object(
  {
    id: JobIdSchema,
    url: Type.String({ description: "The job's page (GET it with Accept: application/json for its JSON)." }),
    statusUrl: Type.String({ description: "The address to poll." }),
  },
  closed,
);
export type Created = Static<typeof CreatedSchema>;

/** 202 of a cancel. */
export const CancelReplySchema = Type.Object(
  {
    id: JobIdSchema,
    outcome: StringEnum(["cancelled", "requested"] as const, {
      description: "cancelled: it was waiting and has ended; requested: it runs and was asked to stop.",
    }),
  },
  closed,
);
export type CancelReply = Static<typeof CancelReplySchema>;

/** Every error a JSON client gets: a code, a sentence, the status. */
export const ErrorSchema = Type.Object(
  {
    error: Type.String({ description: "A code, e.g. invalid-input, job-not-found, queue-full, unavailable." }),
    message: Type.String({ description: "What went wrong, in plain words." }),
    status: Type.Integer({ description: "The HTTP status, repeated." }),
  },
  closed,
);
export type ErrorBody = Static<typeof ErrorSchema>;

/** 422 of a submit: a message per field that is not valid (an unknown field too). */
export const InvalidInputSchema = Type.Object(
  {
    error: Type.Literal("invalid-input"),
    message: Type.String(),
    status: Type.Literal(422),
    fields: Type.Record(Type.String(), Type.String(), { description: "A message per invalid or unknown field." }),
    errors: Type.Record(Type.String(), Type.String(), { description: "The same as `fields` (the name POST /count answered first)." }),
  },
  closed,
);
export type InvalidInput = Static<typeof InvalidInputSchema>;

const JobFileSchema = Type.Object({ name: Type.String(), size: Type.Integer({ minimum: 0 }), url: Type.String() }, closed);

/** What a job (or an attempt) used, measured by its runner at its end. */
const UsageSchema = Type.Object(
  {
    peakMemoryBytes: Type.Integer({
      minimum: 0,
      description: "Its peak memory, in bytes: a command's whole program tree (its cgroup), a Node type's own process.",
    }),
    cpuMs: Type.Integer({ minimum: 0, description: "The CPU time it used, user and system, in ms." }),
  },
  closed,
);
const usageDescription = "What it used (peak memory, CPU time), once it has ended; null while it runs, or when it was not measured.";

/** One attempt of a job that ended and was retried (docs/job-types.md, "Retries"). */
const AttemptSchema = Type.Object(
  {
    attempt: Type.Integer({ minimum: 1 }),
    reason: StringEnum(END_REASONS, { description: "Why the attempt ended." }),
    claimedAt: Nullable(DateTime),
    startedAt: Nullable(DateTime),
    endedAt: DateTime,
    exitCode: Nullable(Type.Integer()),
    signal: Nullable(Type.String()),
    error: Nullable(Type.String()),
    usage: Nullable(UsageSchema, usageDescription),
    slurm: Nullable(
      Type.Object(
        {
          jobId: Type.String({ description: "The Slurm job that ran this attempt." }),
          state: Type.String({ description: "How Slurm last saw it: RUNNING, NODE_FAIL, PREEMPTED, CANCELLED, …" }),
        },
        { additionalProperties: false },
      ),
      'An attempt of a type with runOn "slurm": its Slurm job; else null.',
    ),
    pid: Type.Optional(Nullable(Type.Integer(), "Only with SHOW_JOB_INTERNALS.")),
    host: Type.Optional(Nullable(Type.String(), "Only with SHOW_JOB_INTERNALS.")),
  },
  closed,
);

/** A job as a JSON client sees it (GET /jobs/{id}, its status poll). */
export const JobSchema = Type.Object(
  {
    id: JobIdSchema,
    url: Type.String(),
    type: Type.String({ description: "The job type (a record of a type this server does not run is shown, never run)." }),
    title: Nullable(Type.String(), "The job in a few words; null for a type this server does not know."),
    state: StringEnum(JOB_STATES),
    reason: Nullable(StringEnum(END_REASONS), "Why it ended, for failed and cancelled jobs."),
    message: Type.String({ description: "The state in a sentence, as the page says it." }),
    error: Nullable(Type.String(), "The job's own error message (reason job-error)."),
    status: Nullable(Type.String(), "What the job says it is doing."),
    params: Type.Record(Type.String(), Type.Unknown(), { description: "The parameters it was submitted with." }),
    done: Type.Integer(),
    total: Type.Integer({ description: "0 while not known." }),
    resultCount: Type.Integer(),
    results: Type.Array(Type.Unknown(), { description: "The first results (up to 1000, 512 kB); result.json has them all." }),
    resultsUrl: Type.Object({ json: Type.String(), csv: Type.String() }, { ...closed, description: "Every result, as downloads." }),
    queuePosition: Nullable(Type.Integer({ minimum: 1 }), "While it waits: 1 is next."),
    cancelRequested: Type.Boolean(),
    createdAt: Nullable(DateTime),
    startedAt: Nullable(DateTime),
    finishedAt: Nullable(DateTime),
    updatedAt: Nullable(DateTime),
    durationMs: Nullable(
      Type.Integer({ minimum: 0 }),
      "How long it ran, in ms: finishedAt − startedAt (of its last attempt), once it has ended; null before, or when it never started.",
    ),
    keptUntil: Nullable(
      DateTime,
      "Once it has ended: when it and all it made (results, files, log) are deleted, from its type's retention for that end; null before.",
    ),
    timeoutMs: Nullable(Type.Integer()),
    exitCode: Nullable(Type.Integer()),
    signal: Nullable(Type.String()),
    usage: Nullable(UsageSchema, usageDescription),
    limit: Nullable(
      Type.Number({ minimum: 0 }),
      "The value of the limit that stopped it, as its type declares it: MB for memory-limit, output-limit and file-size-limit, seconds for cpu-limit, processes for process-limit; else null.",
    ),
    slurm: Nullable(
      Type.Object(
        {
          jobId: Type.String({ description: "The Slurm job id of its current attempt." }),
          state: Type.String({ description: "Its Slurm state as last read: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, …" }),
          reason: Nullable(Type.String(), 'Slurm\'s reason while it waits ("Resources", "Priority"); null for none.'),
        },
        { additionalProperties: false },
      ),
      'A job of a type with runOn "slurm", once submitted: its Slurm job; else null.',
    ),
    attempt: Type.Integer({ minimum: 1, description: "Which attempt this is: 1 for the first." }),
    maxAttempts: Type.Integer({ minimum: 1, description: "Attempts in all for a job lost to the infrastructure." }),
    attempts: Type.Array(AttemptSchema, {
      description: "The attempts that ended and were retried, oldest first; the current one is the job itself.",
    }),
    nextAttemptAt: Nullable(DateTime, "A job waiting for its next attempt does not start before this; else null."),
    files: Type.Array(JobFileSchema, { description: "Its output files, once it has ended." }),
    logUrl: Nullable(
      Type.String(),
      "null: the job's log is for the site's operators (a type with publicLog, or SHOW_JOB_INTERNALS, shows it).",
    ),
    statusUrl: Type.String(),
    pid: Type.Optional(Nullable(Type.Integer(), "Only with SHOW_JOB_INTERNALS.")),
    host: Type.Optional(Nullable(Type.String(), "Only with SHOW_JOB_INTERNALS.")),
    detail: Type.Optional(Nullable(Type.String(), "The last lines of a failed process; only with SHOW_JOB_INTERNALS.")),
  },
  closed,
);
export type Job = Static<typeof JobSchema>;

/** GET /jobs/{id}/result.json: every result, with what the job was. */
export const ResultsSchema = Type.Object(
  {
    id: JobIdSchema,
    type: Type.String(),
    state: StringEnum(JOB_STATES),
    params: Type.Record(Type.String(), Type.Unknown()),
    results: Type.Array(Type.Unknown()),
  },
  closed,
);

export const RecentJobSchema = Type.Object(
  {
    id: JobIdSchema,
    url: Type.String(),
    type: Type.String(),
    title: Type.String(),
    state: StringEnum(JOB_STATES),
    phase: Type.String({ description: "The state as the page shows it: queued, running, cancelling, succeeded, failed, cancelled." }),
    stateLabel: Type.String({ description: "The state in words: Waiting to start, Running, Finished…" }),
    finished: Type.Boolean(),
    createdAt: Nullable(DateTime),
    submittedText: Nullable(Type.String(), "When it was submitted, roughly: 3 minutes ago."),
  },
  closed,
);
export type RecentJob = Static<typeof RecentJobSchema>;

export const RecentListSchema = Type.Object({ jobs: Type.Array(RecentJobSchema) }, closed);

export const MyJobsSchema = Type.Object(
  {
    user: Type.String({ description: "The signed-in person, as the site's proxy names them." }),
    jobs: Type.Array(RecentJobSchema),
    next: Nullable(Type.String(), "The address of the next page (older jobs), or null on the last."),
  },
  closed,
);

export const RemovedSchema = Type.Object(
  { id: JobIdSchema, removed: Type.Boolean({ description: "Whether it was on the list." }) },
  closed,
);

const MemorySchema = Type.Object(
  {
    usedBytes: Type.Integer(),
    maxBytes: Type.Integer({ description: "Its maxmemory; 0 without a limit." }),
    usedPercent: Nullable(Type.Number(), "usedBytes as a share of maxBytes (%); null without a limit."),
    refusePercent: Type.Number({ description: "From this share on, new jobs are refused (REDIS_MEMORY_REFUSE_PERCENT)." }),
  },
  { ...closed, description: "How full Redis is (its fullest node); null when it could not be read." },
);

/** GET /healthz. */
export const HealthSchema = Type.Object(
  {
    status: StringEnum(["ok", "unavailable"] as const),
    redis: StringEnum(["ok", "unreachable", "refusing-writes"] as const),
    memory: Type.Optional(Nullable(MemorySchema)),
    accepting: Type.Optional(Type.Boolean({ description: "Whether new jobs and uploads are accepted." })),
  },
  closed,
);
export type Health = Static<typeof HealthSchema>;

/** The schemas the document names in components.schemas (referenced by $ref). */
export const NAMED_SCHEMAS = {
  Job: JobSchema,
  Created: CreatedSchema,
  CancelReply: CancelReplySchema,
  Error: ErrorSchema,
  InvalidInput: InvalidInputSchema,
  Results: ResultsSchema,
  RecentJob: RecentJobSchema,
  RecentList: RecentListSchema,
  MyJobs: MyJobsSchema,
  Removed: RemovedSchema,
  Health: HealthSchema,
} as const;
