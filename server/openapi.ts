// The OpenAPI 3.1 document of the JSON API, never written by hand: request
// bodies come from the job types' field declarations (jsonSchema,
// jobs/core/fields.ts: the same declarations that check a submission), and
// every JSON answer's schema from api-schemas.ts (the types the code that
// builds those answers must return). A new type, field or answer field is
// documented by declaring it. Every status an operation can answer is
// listed; what the server answers and this document leaves out is listed in
// `x-omitted` (test/flow/openapi.test.ts checks both against the app).
import type { JobType } from "../jobs/core/job-type.ts";
import { jsonSchema } from "../jobs/core/fields.ts";
import { NAMED_SCHEMAS } from "./api-schemas.ts";
import { formAction, MY_JOBS_URL, newJobUrl } from "./urls.ts";
import { JOB_STATES } from "../jobs/core/store.ts";
import { TIME_ZONE_COOKIE, TIME_ZONE_URL } from "./time-zone.ts";

/** The header that makes a JSON submit safe to repeat (its rules: docs/api.md, "Submitting"). */
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";

const ref = (name: keyof typeof NAMED_SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });
const response = (name: string) => ({ $ref: `#/components/responses/${name}` });
const text = (media: string, description: string, headers?: object) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { [media]: { schema: { type: "string" } } },
});
const json = (schema: object, description: string, headers?: object) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/json": { schema } },
});
/** An answer that is JSON for a JSON client and a page for a browser. */
const jsonOrPage = (schema: object, description: string, headers?: object) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/json": { schema }, "text/html": { schema: { type: "string" } } },
});
const error = (description: string, headers?: object) => jsonOrPage(ref("Error"), description, headers);
/** A 303 (Koa's redirect writes a line saying where, as a page or as text). */
const seeOther = (description: string) => ({
  description,
  headers: header("Location"),
  content: { "text/html": { schema: { type: "string" } }, "text/plain": { schema: { type: "string" } } },
});
const header = (name: string) => ({ [name]: { $ref: `#/components/headers/${name}` } });
const param = (name: string) => ({ $ref: `#/components/parameters/${name}` });

/** Answers every operation can give: the Host refused (421, before the app), a bug (500), Redis or the server too busy (503). */
const COMMON = { "421": response("Misdirected"), "500": response("Internal"), "503": response("Unavailable") };
/** And every POST: a form sent from another site (403), a compressed body (415). */
const COMMON_POST = { ...COMMON, "403": response("CrossSite") };

/** The statuses and paths the server answers that this document leaves out, and why. */
export const OMITTED = [
  {
    path: "/admin, /admin/*",
    why: "The operators' pages (behind a login, only with ADMIN_PASSWORD, or for the people ADMIN_USERS names); not part of the public API.",
  },
  { path: "/static/*", why: "The stylesheet and scripts of the pages." },
  {
    path: "POST /jobs/new/{type} of a type with a short address",
    why: "The same operation as the short address it is documented under (POST /jobs/new/count is POST /count).",
  },
  { path: "/jobs/new/{type} of no known type", why: "404: there is no such type (a page)." },
  { path: "HEAD", why: "Every GET answers HEAD with the same status and headers, and no body." },
  {
    path: "405",
    why: "A method an address does not take is answered 405 with Allow (JSON or a page, as Accept asks); one that changes things may be refused before that, 403 from another site or 415 with a compressed body.",
  },
];

/**
 * Beside a type's own fields, every submit may ask to be told when its job
 * ends (server/notify/request.ts): an email address (with SMTP_URL), and, in
 * JSON, a webhook URL (with WEBHOOK_ALLOWED_HOSTS). Each is refused (422)
 * where the server does not send that kind.
 */
const NOTIFY_PROPERTIES = {
  notify_email: {
    type: "string",
    format: "email",
    maxLength: 254,
    description:
      "An address to email once when the job ends, with a link to its page. Only where the server sends mail (SMTP_URL); elsewhere it is refused (422). A signed-in person's own address is used when this is left out.",
  },
  webhookUrl: {
    type: "string",
    format: "uri",
    maxLength: 2048,
    description:
      "An API client's (in JSON, or a form field of a type with a file): an http(s) URL POSTed a signed JSON body once when the job ends (docs/api.md, Told when it ends). Its host must be on the server's WEBHOOK_ALLOWED_HOSTS and resolve to a public address (or one listed); otherwise the submit is refused (422, `fields.webhookUrl`) and nothing is created.",
  },
} as const;

/** The JSON body of a type's submit: its fields, and the request to be told when the job ends. */
export function submitSchema(type: JobType): Record<string, unknown> {
  const schema = jsonSchema(type.fields);
  return { ...schema, properties: { ...(schema.properties as object), ...NOTIFY_PROPERTIES } };
}

function submitOperation(type: JobType): object {
  const schema = submitSchema(type);
  // A form carries more than its fields (its one-time token, a submit button's name): they are ignored there; a JSON body must hold only the fields.
  const formSchema = {
    ...schema,
    additionalProperties: true,
    description: "As the page's form sends it; fields it does not declare are ignored.",
  };
  const multipart = type.fields.some((f) => f.kind === "file");
  return {
    operationId: `submit_${type.name.replace(/-/g, "_")}`,
    summary: type.title,
    description:
      `${type.description}\n\nA JSON body is answered in JSON (202), unless Accept names text/html; a form gets a 303 to the job's page ` +
      `(or, with Accept: application/json, the same JSON). Send ${IDEMPOTENCY_KEY_HEADER} to make a retry safe.`,
    tags: ["submit"],
    parameters: [param("IdempotencyKey")],
    requestBody: {
      required: true,
      content: multipart
        ? { "multipart/form-data": { schema: formSchema } }
        : { "application/json": { schema }, "application/x-www-form-urlencoded": { schema: formSchema } },
    },
    responses: {
      "202": json(
        ref("Created"),
        "The job was created (or, for a repeated Idempotency-Key, already was): poll statusUrl.",
        header("Location"),
      ),
      "303": seeOther("A form: the job was created; its page is at Location."),
      "400": error("The body could not be read, or the Idempotency-Key is not 16 to 255 printable ASCII characters."),
      ...(multipart
        ? {
            "408": error(
              "The upload stopped before the whole file arrived (the client went away, or sent nothing for UPLOAD_IDLE_TIMEOUT_MS); nothing was kept.",
            ),
          }
        : {}),
      "413": error("The body (or its file) is larger than this form accepts."),
      "415": error("The body is not in a format this form takes, or is compressed."),
      "422": {
        description:
          "A field is not valid, or a JSON body has a field the form does not declare (`fields` says which; a refused `notify_email` or `webhookUrl` too: malformed, not sent by this server, a host not allowed or a private address); or the Idempotency-Key was used with another body (error idempotency-key-reused). Nothing was created.",
        content: {
          "application/json": { schema: { anyOf: [ref("InvalidInput"), ref("Error")] } },
          "text/html": { schema: { type: "string" } },
        },
      },
      "429": error(
        "The submitter (the signed-in person, else the client's address) has JOB_MAX_QUEUED_PER_SUBMITTER jobs waiting already (error too-many-waiting; the message says the limit); nothing was created. Retry-After says when to try again.",
        header("Retry-After"),
      ),
      ...(multipart
        ? { "507": error("FILE_STORE_DIR: the disk that keeps files is full; nothing was kept (error file-store-full).") }
        : {}),
      ...COMMON_POST,
    },
  };
}

/** The form of a type, as a page (its fill address too). */
function formPage(type: JobType, names: readonly string[]): object {
  return {
    operationId: `form_${type.name.replace(/-/g, "_")}${names.length ? "_filled" : ""}`,
    summary: `${type.title}: the form (a page)`,
    description: "A page, never a job: a GET never starts one. Values in the address or the query fill the form in.",
    tags: ["pages"],
    parameters: names.map((name) => ({ name, in: "path", required: true, schema: { type: "string" } })),
    responses: {
      "200": text("text/html", "The form."),
      "400": text("text/html", "A value in the address is not valid: the form, with its message."),
      ...COMMON,
    },
  };
}

export function openApiDocument(types: readonly JobType[], version: string): object {
  const paths: Record<string, Record<string, object>> = {};
  const add = (path: string, method: string, operation: object) => ((paths[path] ??= {})[method] = operation);

  add("/", "get", {
    operationId: "home",
    summary: "The start page: the first type's form, the others, this browser's recent jobs",
    tags: ["pages"],
    responses: { "200": text("text/html", "The page."), ...COMMON },
  });
  for (const type of types) {
    add(formAction(type), "post", submitOperation(type));
    add(newJobUrl(type.name), "get", formPage(type, []));
    if (type.aliases?.fill) {
      const names = [...type.aliases.fill.matchAll(/:([a-z][a-z0-9_]*)/g)].map((m) => m[1]!);
      const path = type.aliases.fill.replace(/:([a-z][a-z0-9_]*)/g, "{$1}");
      add(path, "get", formPage(type, names));
    }
  }

  const ended = "Once the job has ended, the answer carries an ETag, and If-None-Match with it is answered 304.";
  add("/jobs/{id}", "get", {
    operationId: "getJob",
    summary: "A job: its state, progress, results (the first ones) and downloads",
    description: `JSON under Accept: application/json; a page for a browser. ${ended}`,
    tags: ["jobs"],
    parameters: [param("id"), param("Accept"), param("IfNoneMatch")],
    responses: {
      "200": jsonOrPage(ref("Job"), "The job.", header("ETag")),
      "304": response("NotModified"),
      "404": error("No such job: it never was, or it expired."),
      ...COMMON,
    },
  });
  add("/jobs/{id}/status", "get", {
    operationId: "getJobStatus",
    summary: "The same job as GET /jobs/{id}, for polling",
    description: `A JSON client gets the job, always 200. htmx (HX-Request: true) gets the status fragment, 286 once the job has ended (htmx's signal to stop polling). ${ended}`,
    tags: ["jobs"],
    parameters: [param("id"), param("Accept"), param("IfNoneMatch"), { name: "HX-Request", in: "header", schema: { type: "string" } }],
    responses: {
      "200": jsonOrPage(ref("Job"), "The job (or the status fragment).", header("ETag")),
      "286": text("text/html", "htmx only: the fragment of an ended job; polling stops."),
      "304": response("NotModified"),
      "404": error("No such job."),
      ...COMMON,
    },
  });
  add("/jobs/{id}/cancel", "post", {
    operationId: "cancelJob",
    summary: "Cancel a queued job at once, or ask a running one to stop",
    description: "JSON under Accept: application/json (or with a JSON body); a browser's form gets a 303 to the job's page.",
    tags: ["jobs"],
    parameters: [param("id"), param("Accept")],
    responses: {
      "202": json(ref("CancelReply"), "Cancelled, or the request to stop was stored."),
      "303": seeOther("A form: back to the job's page."),
      "404": error("No such job."),
      "409": error("The job has already ended."),
      "415": error("The body is compressed."),
      ...COMMON_POST,
    },
  });

  const ranged =
    "It answers a single Range (bytes=a-b, bytes=a-, bytes=-n) with 206, or 416 when none of it exists; If-Range with its ETag is honoured. Several ranges, or a Range that cannot be read, get the whole download.";
  const sized = "It has a Content-Length.";
  const made =
    "It is made as it is sent: chunked, without a Content-Length, the first time an instance sends it; with its Content-Length once its size is known (after it was sent whole, or for a Range).";
  const download = (operationId: string, summary: string, content: object, extra: object = {}, size: "sized" | "made" = "sized") => ({
    operationId,
    summary,
    description: `A download (Content-Disposition: attachment). ${ended} ${size === "sized" ? sized : made} ${ranged}`,
    tags: ["downloads"],
    parameters: [param("id"), param("IfNoneMatch"), param("Range"), param("IfRange")],
    responses: {
      "200": { description: "The download.", headers: { ...header("ETag"), ...header("Accept-Ranges") }, content },
      "206": { description: "The part the Range asked for.", headers: { ...header("ETag"), ...header("Content-Range") }, content },
      "416": error("The Range asks for bytes the download does not have (Content-Range: bytes */size).", header("Content-Range")),
      "304": response("NotModified"),
      "404": error("No such job."),
      ...extra,
      ...COMMON,
    },
  });
  add(
    "/jobs/{id}/result.json",
    "get",
    download(
      "getJobResultsJSON",
      "Every result of the job, as JSON (partial for a job that did not succeed)",
      { "application/json": { schema: ref("Results") } },
      { "409": error("The job has not ended yet.") },
      "made",
    ),
  );
  add(
    "/jobs/{id}/result.csv",
    "get",
    download(
      "getJobResultsCSV",
      "Every result of the job, as CSV: a row each (index, value)",
      { "text/csv": { schema: { type: "string" } } },
      { "409": error("The job has not ended yet.") },
      "made",
    ),
  );
  add("/jobs/{id}/log", "get", {
    ...download("getJobLog", "The job's whole log: what its program wrote, up to JOB_LOG_MAX_BYTES (a line says where it was cut)", {
      "text/plain": { schema: { type: "string" } },
    }),
    description: `A download, for a type whose log is public (404 otherwise). ${ended} ${sized} ${ranged}`,
  });
  const fileDownload = download(
    "getJobFile",
    "One output file of the job (listed in its `files`); its media type is its name's",
    Object.fromEntries(
      ["text/plain", "text/csv", "application/json", "application/octet-stream"].map((media) => [
        media,
        {
          schema:
            media === "application/json"
              ? { description: "Whatever JSON the job wrote." }
              : media === "application/octet-stream"
                ? { type: "string", contentMediaType: media }
                : { type: "string" },
        },
      ]),
    ),
  );
  add("/jobs/{id}/files/{name}", "get", {
    ...fileDownload,
    parameters: [
      param("id"),
      { name: "name", in: "path", required: true, schema: { type: "string" } },
      param("IfNoneMatch"),
      param("Range"),
      param("IfRange"),
    ],
  });

  add("/recent", "get", {
    operationId: "getRecentJobs",
    summary: "This browser's recent jobs: the last 20 submitted with its cookie that still exist, newest first",
    description:
      "The list lives in a signed cookie of job ids (sidejob_recent), set by every submission; a client that keeps cookies has one. A browser (no Accept: application/json) is sent to the list on the start page.",
    tags: ["recent"],
    parameters: [param("Accept")],
    responses: {
      "200": json(ref("RecentList"), "The jobs (an empty list without the cookie)."),
      "303": seeOther("A browser: to the list on the start page."),
      ...COMMON,
    },
  });
  add(MY_JOBS_URL, "get", {
    operationId: "getMyJobs",
    summary: "The signed-in person's jobs, newest first, a page of 25 at a time (with sign-in through the site's proxy)",
    description:
      "Only where the site signs people in through its proxy (TRUSTED_USER_HEADER): the jobs submitted while signed in as the person this request comes from, on any device. A browser gets the page; a JSON client the list.",
    tags: ["recent"],
    parameters: [
      param("Accept"),
      {
        name: "state",
        in: "query",
        required: false,
        schema: { type: "string", enum: [...JOB_STATES] },
        description: "Only jobs in this state.",
      },
      { name: "type", in: "query", required: false, schema: { type: "string" }, description: "Only jobs of this type." },
      {
        name: "after",
        in: "query",
        required: false,
        schema: { type: "string" },
        description: "Where a page starts: the `next` of the page before.",
      },
    ],
    responses: {
      "200": jsonOrPage(ref("MyJobs"), "A page of the person's jobs."),
      "400": error("A state, type or page (after) it does not know (error bad-filter); the message says what it takes."),
      "401": error("The request is not signed in (error unauthenticated)."),
      "404": error("The site does not sign people in: there is no such list."),
      ...COMMON,
    },
  });
  const removeBody = { type: "object", required: ["id"], properties: { id: { $ref: "#/components/schemas/Job/properties/id" } } };
  add("/recent/remove", "post", {
    operationId: "removeRecentJob",
    summary: "Take a job off this browser's recent jobs (the job itself is untouched)",
    tags: ["recent"],
    parameters: [param("Accept")],
    requestBody: {
      required: true,
      content: { "application/json": { schema: removeBody }, "application/x-www-form-urlencoded": { schema: removeBody } },
    },
    responses: {
      "200": json(ref("Removed"), "Done."),
      "303": seeOther("A browser's form: back to the list on the start page."),
      "400": error("No job id was sent, or the body could not be read."),
      "413": error("The body is larger than 1 kB."),
      "415": error("The body is compressed (Content-Encoding)."),
      ...COMMON_POST,
    },
  });
  const zoneBody = {
    type: "object",
    required: ["zone"],
    properties: {
      zone: { type: "string", description: "A time zone this server's runtime knows, by its IANA name (Europe/Paris), or UTC." },
      back: { type: "string", description: "A path on this site to go back to; anything else goes to /." },
    },
  };
  add(TIME_ZONE_URL, "get", {
    operationId: "timeZonePage",
    summary: "The time zone page: which zone this browser's pages show times in, and a form to choose another",
    tags: ["pages"],
    parameters: [{ name: "back", in: "query", description: "A path on this site the form goes back to.", schema: { type: "string" } }],
    responses: { "200": text("text/html", "The page."), ...COMMON },
  });
  add(TIME_ZONE_URL, "post", {
    operationId: "chooseTimeZone",
    summary: `Keep a time zone for this browser's pages (in a cookie, ${TIME_ZONE_COOKIE}), then go back`,
    description:
      "The time zone page's form. The zone changes only the words of the times on the pages; every time in the JSON, and every <time datetime> on a page, is in UTC.",
    tags: ["pages"],
    requestBody: { required: true, content: { "application/x-www-form-urlencoded": { schema: zoneBody } } },
    responses: {
      "303": seeOther("The zone is kept: back to `back`, a path on this site (else /)."),
      "400": error(
        "No zone, or one this server does not know (error bad-time-zone): nothing is kept. A browser gets the page again, saying so.",
      ),
      "413": error("The body is larger than 4 kB."),
      "415": error("The body is compressed (Content-Encoding)."),
      ...COMMON_POST,
    },
  });
  add("/healthz", "get", {
    operationId: "getHealth",
    summary: "Whether this instance can work: Redis answers and accepts writes",
    tags: ["operators"],
    responses: {
      "200": json(ref("Health"), "Redis answers (accepting says whether new jobs are taken)."),
      "503": {
        ...json(ref("Health"), "Redis does not answer, or refuses writes.", header("Retry-After")),
        content: { "application/json": { schema: ref("Health") }, "text/plain": { schema: { type: "string" } } },
      },
      "421": response("Misdirected"),
      "500": response("Internal"),
    },
  });
  add("/metrics", "get", {
    operationId: "getMetrics",
    summary: "Prometheus metrics (only when the server has METRICS_TOKEN; 404 otherwise)",
    tags: ["operators"],
    security: [{ metricsToken: [] }],
    responses: {
      "200": text("text/plain", "The metrics, in Prometheus' text format."),
      "401": error("No token, or not the right one."),
      "404": error("Metrics are off (no METRICS_TOKEN)."),
      ...COMMON,
    },
  });
  add("/api/openapi.json", "get", {
    operationId: "getApiDocument",
    summary: "This document",
    tags: ["operators"],
    responses: { "200": json({ type: "object" }, "The OpenAPI document."), ...COMMON },
  });

  return {
    openapi: "3.1.0",
    info: {
      title: "sidejob",
      version,
      description:
        "Long work behind a web page: each job is its own OS process; Redis is the only thing shared. " +
        "A request with a JSON body is answered in JSON; a request without one says Accept: application/json for JSON (else it gets the page). " +
        "Every JSON error is an Error: a code, a sentence, the status.",
    },
    "x-omitted": OMITTED,
    tags: ["submit", "jobs", "downloads", "recent", "operators", "pages"].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { metricsToken: { type: "http", scheme: "bearer", description: "The server's METRICS_TOKEN." } },
      parameters: {
        id: {
          name: "id",
          in: "path",
          required: true,
          description: "The job's id: 32 hex digits.",
          schema: { type: "string", pattern: "^[0-9a-f]{32}$" },
        },
        Accept: {
          name: "Accept",
          in: "header",
          required: true,
          description: "application/json for the JSON answer; a browser's text/html gets the page, */* too.",
          schema: { type: "string", default: "application/json", examples: ["application/json"] },
        },
        IfNoneMatch: {
          name: "If-None-Match",
          in: "header",
          description: "The ETag of an earlier answer: 304 while it still holds.",
          schema: { type: "string" },
        },
        Range: {
          name: "Range",
          in: "header",
          description: "One byte range (bytes=a-b, bytes=a-, bytes=-n): only that part is sent, 206.",
          schema: { type: "string", examples: ["bytes=0-1023"] },
        },
        IfRange: {
          name: "If-Range",
          in: "header",
          description: "The ETag of an earlier answer: the Range holds only while it does; otherwise the whole download comes, 200.",
          schema: { type: "string" },
        },
        IdempotencyKey: {
          name: IDEMPOTENCY_KEY_HEADER,
          in: "header",
          description:
            "16 to 255 printable ASCII characters, chosen by the client (a UUID will do). A repeat with the same key and body answers 202 with the same job; the same key with another body is refused (422, idempotency-key-reused); a malformed key is refused (400). Keys are kept as long as docs/api.md says.",
          schema: { type: "string", minLength: 16, maxLength: 255, pattern: "^[\\x20-\\x7E]+$" },
        },
      },
      headers: {
        Location: { description: "Where the answer leads (the job's page).", required: true, schema: { type: "string" } },
        "Retry-After": { description: "Seconds to wait before trying again.", required: true, schema: { type: "integer", minimum: 0 } },
        ETag: { description: "Of an ended job's answer: it never changes while the job is kept.", schema: { type: "string" } },
        "Accept-Ranges": { description: "bytes: a Range request is answered with a part.", schema: { type: "string", const: "bytes" } },
        "Content-Range": {
          description: "The part sent and the whole size (bytes a-b/size); bytes */size when none was.",
          required: true,
          schema: { type: "string" },
        },
      },
      responses: {
        NotModified: { description: "If-None-Match named this answer's ETag: it has not changed.", headers: header("ETag") },
        Misdirected: text("text/plain", "This server does not answer for that host name (Host is not in ALLOWED_HOSTS)."),
        Internal: error("Something went wrong on the server's side (logged)."),
        Unavailable: {
          description:
            "Redis cannot be reached or refuses writes, too many jobs wait (queue-full), or the server is too busy: try again after Retry-After.",
          headers: header("Retry-After"),
          content: {
            "application/json": { schema: ref("Error") },
            "text/html": { schema: { type: "string" } },
            "text/plain": { schema: { type: "string" } },
          },
        },
        CrossSite: error("The form was sent from another site (Origin or Sec-Fetch-Site)."),
      },
      schemas: NAMED_SCHEMAS,
    },
  };
}
