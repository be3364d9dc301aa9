// The API document as a contract: every answer a test app gives on a path
// the document describes is checked against it, status, media type,
// required headers and (for JSON) body, as a validator that knows only the
// document would check it. launchApp (app.ts) puts the check in front of
// every test app's middleware; a mismatch is printed when it happens and
// fails the app's close(), so the test (or the file) that met it fails.
// The operations and statuses the answers reached are kept, for the test
// that checks every documented one is reached (test/flow/openapi.test.ts).
import fs from "node:fs";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import type Koa from "koa";
import type { Context, Next } from "koa";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { ErrorObject, ValidateFunction } from "ajv";
import { openApiDocument } from "../../server/openapi.ts";
import { JOB_TYPES } from "../../jobs/types/index.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import { ROOT } from "../../server/paths.ts";
import { formAction, newJobUrl } from "../../server/urls.ts";

interface Media {
  schema?: object;
}
interface ResponseObject {
  $ref?: string;
  description: string;
  headers?: Record<string, { $ref?: string; required?: boolean }>;
  content?: Record<string, Media>;
}
interface Operation {
  operationId: string;
  responses: Record<string, ResponseObject>;
}
export interface ApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, object>;
    responses: Record<string, ResponseObject>;
    headers: Record<string, { required?: boolean }>;
  };
}

/** The document as the app serves it (api.ts makes it from the same call). */
export function apiDocument(types: readonly JobType[] = JOB_TYPES): ApiDocument {
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
  return JSON.parse(JSON.stringify(openApiDocument(types, version))) as ApiDocument;
}

/** One documented answer: "GET /jobs/{id} 200". */
export type Reached = string;

export interface Contract {
  /** Mismatches met so far, one sentence each. */
  readonly violations: string[];
  /** The documented answers given so far. */
  readonly reached: Set<Reached>;
  /** Throws with every mismatch, if there was one. */
  assertClean(): void;
}

const SCHEMA_ID = "sidejob-api";

/** POST /jobs/new/<type> of a type with a short address: the operation of its short address. */
const ALIASES = new Map(JOB_TYPES.filter((t) => t.aliases?.post).map((t) => [newJobUrl(t.name), formAction(t)]));

/** A path template's matcher; concrete paths are tried before templated ones, as OpenAPI says. */
function matchers(doc: ApiDocument): { template: string; re: RegExp }[] {
  return Object.keys(doc.paths)
    .sort((a, b) => Number(a.includes("{")) - Number(b.includes("{")))
    .map((template) => ({
      template,
      re: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`),
    }));
}

export function checkAgainst(doc: ApiDocument): { contract: Contract; middleware: (ctx: Context, next: Next) => Promise<void> } {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: SCHEMA_ID, components: { schemas: doc.components.schemas } });
  const validators = new Map<object, ValidateFunction>();
  const validator = (schema: object) => {
    let v = validators.get(schema);
    if (!v) {
      const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${SCHEMA_ID}#/components/`)) as object;
      v = ajv.compile(rebased);
      validators.set(schema, v);
    }
    return v;
  };
  const paths = matchers(doc);
  const violations: string[] = [];
  const reached = new Set<Reached>();
  const violation = (what: string) => {
    violations.push(what);
    console.error(`API contract: ${what}`);
  };
  const describe = (errors: ErrorObject[] | null | undefined) =>
    (errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`).join("; ");

  const checkJson = (where: string, schema: object | undefined, bytes: Buffer | string) => {
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString());
    } catch {
      return violation(`${where}: the body is not JSON: ${bytes.toString().slice(0, 200)}`);
    }
    if (!schema) return;
    const validate = validator(schema);
    if (!validate(value)) violation(`${where}: ${describe(validate.errors)} in ${JSON.stringify(value).slice(0, 500)}`);
  };

  async function middleware(ctx: Context, next: Next): Promise<void> {
    await next();
    if (ctx.method === "HEAD" || ctx.method === "OPTIONS") return;
    const match = paths.find((p) => p.re.test(ctx.path));
    if (!match) return; // not an address the document describes (/admin, /static, a fixture type's form)
    const method = ctx.method.toLowerCase();
    // A type's form address with a short one takes the same submit, documented under the short one (x-omitted).
    const template = method === "post" ? (ALIASES.get(ctx.path) ?? match.template) : match.template;
    const operation = doc.paths[template]![method];
    if (!operation) {
      // A method an address does not take: 405, or refused before routing (from another site, a compressed body), as x-omitted says.
      if (![403, 405, 415].includes(ctx.status))
        violation(`${ctx.method} ${ctx.path}: no such operation in the document (answered ${ctx.status})`);
      return;
    }
    const where = `${ctx.method} ${template} ${ctx.status}`;
    let answer = operation.responses[String(ctx.status)];
    if (answer?.$ref) answer = doc.components.responses[answer.$ref.split("/").pop()!];
    if (!answer) return violation(`${where}: the status is not documented (for ${ctx.path})`);
    reached.add(where);
    for (const [name, h] of Object.entries(answer.headers ?? {})) {
      const declared = h.$ref ? doc.components.headers[h.$ref.split("/").pop()!] : h;
      if ((declared?.required || h.required) && !ctx.response.get(name)) violation(`${where}: no ${name} header`);
    }
    const body: unknown = ctx.body;
    if (body === null || body === undefined || ctx.status === 304 || ctx.status === 204) return;
    const media = ctx.response.type;
    if (!answer.content) return violation(`${where}: a body (${media}) where the document says none`);
    if (!(media in answer.content)) return violation(`${where}: ${media} is not among ${Object.keys(answer.content).join(", ")}`);
    // A part of a download (206) is bytes, not a document of its own.
    if (media !== "application/json" || ctx.status === 206) return;
    const schema = answer.content[media]!.schema;
    if (body instanceof Readable) {
      // A streamed answer (result.json): checked once it has all gone out.
      const chunks: Buffer[] = [];
      const copy = new PassThrough();
      copy.on("data", (chunk: Buffer) => chunks.push(chunk));
      copy.on("end", () => checkJson(where, schema, Buffer.concat(chunks)));
      body.on("error", (err) => copy.destroy(err));
      // Koa drops a replaced stream's Content-Length: the copy keeps the answer's.
      const length = ctx.response.get("Content-Length") === "" ? undefined : ctx.length;
      ctx.body = body.pipe(copy);
      ctx.type = media;
      if (length !== undefined) ctx.length = length;
      return;
    }
    checkJson(where, schema, typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body));
  }

  return {
    middleware,
    contract: {
      violations,
      reached,
      assertClean() {
        if (violations.length > 0) throw new Error(`The app's answers broke the API document:\n${violations.join("\n")}`);
      },
    },
  };
}

let shared: ApiDocument | undefined;

/**
 * A check of one app's answers, for createInstance's `outermost` (before the
 * request log and the error handler: it sees the final answer). offered: the
 * names JOB_TYPES gives the app, whose document leaves the others out
 * (default: every type).
 */
export function contractCheck(offered: readonly string[] | null = null): { contract: Contract; middleware: Koa.Middleware } {
  const doc = offered ? apiDocument(JOB_TYPES.filter((t) => offered.includes(t.name))) : (shared ??= apiDocument());
  const { contract, middleware } = checkAgainst(doc);
  return { contract, middleware: middleware as Koa.Middleware };
}
