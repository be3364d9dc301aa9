// The OpenAPI 3.1 document of the JSON API, made from the job types'
// declarations (their fields' JSON Schema: jobs/core/fields.ts), never written by
// hand: a new type, or a new field, is documented by declaring it.
import type { JobType } from "../jobs/core/job-type.ts";
import { jsonSchema } from "../jobs/core/fields.ts";
import { END_REASONS, JOB_STATES } from "../jobs/core/store.ts";
import { formAction } from "./urls.ts";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({ description, content: { "application/json": { schema } } });
const error = (description: string) => json(ref("Error"), description);
const nullable = (type: string, extra: object = {}) => ({ type: [type, "null"], ...extra });
const idParam = {
  name: "id",
  in: "path",
  required: true,
  description: "The job's id: 32 hex digits.",
  schema: { type: "string", pattern: "^[0-9a-f]{32}$" },
};

export function openApiDocument(types: readonly JobType[], version: string): object {
  const paths: Record<string, object> = {};
  for (const type of types) {
    const schema = jsonSchema(type.fields);
    const multipart = type.fields.some((f) => f.kind === "file");
    paths[formAction(type)] = {
      post: {
        operationId: `submit_${type.name.replace(/-/g, "_")}`,
        summary: type.title,
        description: `${type.description}\n\nSend Accept: application/json for a JSON answer (202); a browser's form gets a 303 to the job's page.`,
        tags: ["submit"],
        requestBody: {
          required: true,
          content: multipart
            ? { "multipart/form-data": { schema } }
            : { "application/json": { schema }, "application/x-www-form-urlencoded": { schema } },
        },
        responses: {
          "202": json(ref("Created"), "The job was created and waits for a slot; poll statusUrl."),
          "400": error("The body could not be read."),
          "415": error("The body is not in a format this form takes."),
          "422": error("A field is not valid: `fields` has a message per field; nothing was created."),
          "503": error("Too many jobs are waiting, or Redis cannot be reached: try again after Retry-After."),
        },
      },
    };
  }
  paths["/jobs/{id}"] = {
    get: {
      operationId: "getJob",
      summary: "A job: its state, progress, results (the first ones) and downloads",
      tags: ["jobs"],
      parameters: [idParam],
      responses: { "200": json(ref("Job"), "The job."), "404": error("No such job: it never was, or it expired.") },
    },
  };
  paths["/jobs/{id}/status"] = {
    get: {
      operationId: "getJobStatus",
      summary: "The same job as GET /jobs/{id}, for polling (always 200 for a JSON client)",
      tags: ["jobs"],
      parameters: [idParam],
      responses: { "200": json(ref("Job"), "The job."), "404": error("No such job.") },
    },
  };
  paths["/jobs/{id}/cancel"] = {
    post: {
      operationId: "cancelJob",
      summary: "Cancel a queued job at once, or ask a running one to stop",
      tags: ["jobs"],
      parameters: [idParam],
      responses: {
        "202": json(
          {
            type: "object",
            properties: { id: { type: "string" }, outcome: { enum: ["cancelled", "requested"] } },
            required: ["id", "outcome"],
          },
          "Cancelled, or the request was stored.",
        ),
        "404": error("No such job."),
        "409": error("The job has already ended."),
      },
    },
  };
  paths["/jobs/{id}/log"] = {
    get: {
      operationId: "getJobLog",
      summary: "The job's log: what its program wrote (the last lines kept)",
      tags: ["downloads"],
      parameters: [idParam],
      responses: {
        "200": { description: "The log.", content: { "text/plain": { schema: { type: "string" } } } },
        "404": error("No such job."),
      },
    },
  };
  paths["/jobs/{id}/files/{name}"] = {
    get: {
      operationId: "getJobFile",
      summary: "One output file of the job (listed in its `files`)",
      tags: ["downloads"],
      parameters: [idParam, { name: "name", in: "path", required: true, schema: { type: "string" } }],
      responses: {
        "200": { description: "The file.", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
        "404": error("No such job or file."),
      },
    },
  };
  for (const [suffix, media] of [
    ["json", "application/json"],
    ["csv", "text/csv"],
  ] as const) {
    paths[`/jobs/{id}/result.${suffix}`] = {
      get: {
        operationId: `getJobResults${suffix.toUpperCase()}`,
        summary: `Every result of the job, as ${suffix.toUpperCase()} (partial for a job that did not succeed)`,
        tags: ["downloads"],
        parameters: [idParam],
        responses: {
          "200": { description: "The results.", content: { [media]: { schema: { type: "string" } } } },
          "404": error("No such job."),
        },
      },
    };
  }
  paths["/recent"] = {
    get: {
      operationId: "getRecentJobs",
      summary: "This browser's recent jobs: the last 20 submitted with its cookie that still exist, newest first",
      description:
        "The list lives in a signed cookie of job ids (sidejob_recent), set by every submission; a client that keeps cookies has one. A browser (Accept: text/html) is sent to the list on the start page.",
      tags: ["recent"],
      responses: {
        "200": json(
          { type: "object", required: ["jobs"], properties: { jobs: { type: "array", items: ref("RecentJob") } } },
          "The jobs (an empty list without the cookie).",
        ),
        "503": error("Redis cannot be reached."),
      },
    },
  };
  paths["/recent/remove"] = {
    post: {
      operationId: "removeRecentJob",
      summary: "Take a job off this browser's recent jobs (the job itself is untouched)",
      tags: ["recent"],
      requestBody: {
        required: true,
        content: Object.fromEntries(
          ["application/json", "application/x-www-form-urlencoded"].map((media) => [
            media,
            { schema: { type: "object", required: ["id"], properties: { id: idParam.schema } } },
          ]),
        ),
      },
      responses: {
        "200": json(
          { type: "object", required: ["id", "removed"], properties: { id: { type: "string" }, removed: { type: "boolean" } } },
          "Done; `removed` says whether it was on the list.",
        ),
        "303": { description: "A browser's form: back to the list on the start page." },
        "400": error("No job id was sent."),
        "403": error("Sent from another site."),
      },
    },
  };
  paths["/metrics"] = {
    get: {
      operationId: "getMetrics",
      summary: "Prometheus metrics (only when the server has METRICS_TOKEN; 404 otherwise)",
      tags: ["operators"],
      security: [{ metricsToken: [] }],
      responses: {
        "200": { description: "The metrics.", content: { "text/plain": { schema: { type: "string" } } } },
        "401": error("No token, or not the right one."),
        "404": error("Metrics are off (no METRICS_TOKEN)."),
      },
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "sidejob",
      version,
      description:
        "Long work behind a web page: each job is its own OS process; Redis is the only thing shared. Every page that shows data answers JSON under Accept: application/json.",
    },
    paths,
    components: {
      securitySchemes: { metricsToken: { type: "http", scheme: "bearer", description: "The server's METRICS_TOKEN." } },
      schemas: {
        RecentJob: {
          type: "object",
          required: ["id", "url", "type", "title", "state", "stateLabel", "finished"],
          properties: {
            id: { type: "string" },
            url: { type: "string" },
            type: { type: "string" },
            title: { type: "string" },
            state: { enum: [...JOB_STATES] },
            phase: {
              type: "string",
              description: "The state as the page shows it: queued, running, cancelling, succeeded, failed, cancelled.",
            },
            stateLabel: { type: "string", description: "The state in words: Waiting to start, Running, Finished…" },
            finished: { type: "boolean" },
            createdAt: nullable("string", { format: "date-time" }),
            submittedText: nullable("string", { description: "When it was submitted, roughly: 3 minutes ago." }),
          },
        },
        Created: {
          type: "object",
          required: ["id", "url", "statusUrl"],
          properties: { id: { type: "string" }, url: { type: "string" }, statusUrl: { type: "string" } },
        },
        Error: {
          type: "object",
          required: ["error", "message"],
          properties: {
            error: { type: "string", description: "A code, e.g. invalid-input, job-not-found, queue-full." },
            message: { type: "string", description: "What went wrong, in plain words." },
            status: { type: "integer" },
            fields: { type: "object", additionalProperties: { type: "string" }, description: "A message per invalid field (422)." },
          },
        },
        Job: {
          type: "object",
          required: ["id", "url", "type", "state", "done", "total", "results", "resultCount", "statusUrl"],
          properties: {
            id: { type: "string" },
            url: { type: "string" },
            type: {
              type: "string",
              enum: types.map((t) => t.name),
              description: "The job type (a record of another type is shown, never run).",
            },
            title: nullable("string"),
            state: { enum: [...JOB_STATES] },
            reason: { enum: [...END_REASONS, null], description: "Why it ended, for failed and cancelled jobs." },
            message: { type: "string", description: "The state in a sentence, as the page says it." },
            error: nullable("string", { description: "The job's own error message (reason job-error)." }),
            status: nullable("string", { description: "What the job says it is doing." }),
            params: { type: "object" },
            done: { type: "integer" },
            total: { type: "integer", description: "0 while not known." },
            resultCount: { type: "integer" },
            results: { type: "array", description: "The first results; result.json has them all." },
            resultsUrl: {
              type: "object",
              properties: { json: { type: "string" }, csv: { type: "string" } },
              description: "Every result, as downloads.",
            },
            queuePosition: nullable("integer", { minimum: 1, description: "While it waits: 1 is next." }),
            cancelRequested: { type: "boolean" },
            createdAt: nullable("string", { format: "date-time" }),
            startedAt: nullable("string", { format: "date-time" }),
            finishedAt: nullable("string", { format: "date-time" }),
            updatedAt: nullable("string", { format: "date-time" }),
            timeoutMs: nullable("integer"),
            exitCode: nullable("integer"),
            signal: nullable("string"),
            attempt: { type: "integer", minimum: 1, description: "Which attempt this is: 1 for the first." },
            maxAttempts: { type: "integer", minimum: 1, description: "Attempts in all for a job lost to the infrastructure." },
            attempts: {
              type: "array",
              description: "The attempts that ended and were retried, oldest first; the current one is the job itself.",
              items: {
                type: "object",
                required: ["attempt", "reason", "claimedAt", "startedAt", "endedAt", "exitCode", "signal", "error"],
                properties: {
                  attempt: { type: "integer", minimum: 1 },
                  reason: { enum: [...END_REASONS], description: "Why the attempt ended." },
                  claimedAt: nullable("string", { format: "date-time" }),
                  startedAt: nullable("string", { format: "date-time" }),
                  endedAt: { type: "string", format: "date-time" },
                  exitCode: nullable("integer"),
                  signal: nullable("string"),
                  error: nullable("string"),
                  pid: nullable("integer", { description: "Only with SHOW_JOB_INTERNALS." }),
                  host: nullable("string", { description: "Only with SHOW_JOB_INTERNALS." }),
                },
              },
            },
            nextAttemptAt: nullable("string", {
              format: "date-time",
              description: "A job waiting for its next attempt does not start before this; else null.",
            }),
            files: {
              type: "array",
              items: { type: "object", properties: { name: { type: "string" }, size: { type: "integer" }, url: { type: "string" } } },
            },
            logUrl: nullable("string", {
              description: "null: the job's log is for the site's operators (a type with publicLog, or SHOW_JOB_INTERNALS, shows it).",
            }),
            statusUrl: { type: "string" },
            pid: { type: "integer", description: "Only with SHOW_JOB_INTERNALS." },
            host: { type: "string", description: "Only with SHOW_JOB_INTERNALS." },
            detail: nullable("string", { description: "The last lines of a failed process; only with SHOW_JOB_INTERNALS." }),
          },
        },
      },
    },
  };
}
