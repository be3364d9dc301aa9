// Submit keys: what makes a submit sent again return the job it created
// instead of a second one (docs/api.md, "Idempotent submits").
//
// - A program sends an `Idempotency-Key` header (the IETF httpapi
//   idempotency-key draft's name): one key, one request. The same key with
//   the same request answers the job it created; with another request, 422.
// - Every job form carries a one-time token made at each render, in the
//   hidden field `submission` (SUBMISSION_FIELD): the same token with the
//   same values (a double click, the back button and submit again, a resent
//   POST) answers the same job; with other values (the person changed the
//   form) it is a new job.
//
// Keys are shared by every client of the server, so the store hashes each
// with its scope and job type (keys.ts, once()), and a repeat must also
// match the request's fingerprint (its type, checked parameters and the
// contents of its uploads): a guessed key reveals no job unless the whole
// request is the same. KEY_MIN_LENGTH keeps keys long enough not to be
// guessed or collide by chance; a form's token is server-made and random.
import crypto from "node:crypto";
import type { Context } from "koa";
import { SUBMISSION_FIELD } from "../jobs/core/job-type.ts";
import type { OnceScope, SubmitOnce } from "../jobs/core/store.ts";
import { HttpError } from "./errors.ts";

export const IDEMPOTENCY_HEADER = "Idempotency-Key";
/** A key's length: at least 16 characters (a UUID has 36), at most 255. */
export const KEY_MIN_LENGTH = 16;
export const KEY_MAX_LENGTH = 255;
/** Visible ASCII: no spaces, no control characters. */
const KEY = new RegExp(`^[\\x21-\\x7e]{${KEY_MIN_LENGTH},${KEY_MAX_LENGTH}}$`);

/** The key a submit was sent with, and how it binds (OnceScope). */
export interface SubmitKey {
  scope: OnceScope;
  key: string;
}

/** A new form's token: 144 random bits, 24 characters of base64url. */
export function newSubmissionToken(): string {
  return crypto.randomBytes(18).toString("base64url");
}

/**
 * The request's Idempotency-Key, or null without one; a 400 for a key that
 * breaks the rules. The draft sends it as a structured-field string
 * ("quoted"); the bare key is taken too, as most clients send it.
 */
export function idempotencyKey(ctx: Context): SubmitKey | null {
  const raw = ctx.get(IDEMPOTENCY_HEADER);
  if (raw === "") return null;
  const quoted = /^"([^"\\]*)"$/.exec(raw);
  const key = quoted ? quoted[1]! : raw;
  if (!KEY.test(key)) {
    throw new HttpError(
      400,
      `The ${IDEMPOTENCY_HEADER} header must be ${KEY_MIN_LENGTH} to ${KEY_MAX_LENGTH} visible ASCII characters, with no spaces (a random UUID will do). Nothing was created.`,
      { code: "bad-idempotency-key" },
    );
  }
  return { scope: "key", key };
}

/**
 * The form's token from a parsed body, or null without one (an empty value
 * counts as none); a 400 for a value no form of this server sends.
 */
export function submissionToken(body: Readonly<Record<string, unknown>>): SubmitKey | null {
  const value = body[SUBMISSION_FIELD];
  if (value === undefined || value === "") return null;
  if (typeof value !== "string" || !KEY.test(value)) {
    throw new HttpError(
      400,
      `The form's ${SUBMISSION_FIELD} field is not one this site made: load the form again and send it from there.`,
      {
        code: "bad-submission-token",
      },
    );
  }
  return { scope: "form", key: value };
}

/** The body without the form's token: it is no parameter of the job. */
export function withoutToken(body: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { [SUBMISSION_FIELD]: _token, ...rest } = body;
  return rest;
}

/** What the store is given: the key, the request's fingerprint, and how long the key is kept. */
export function submitOnce(
  key: SubmitKey,
  type: string,
  params: object,
  digests: Readonly<Record<string, string>>,
  ttlS: number,
): SubmitOnce {
  // The checked parameters, in the type's field order (so {"start": 1} and {"start": "1"} are one request), and the uploads' bytes.
  const fingerprint = crypto
    .createHash("sha256")
    .update(JSON.stringify([type, params, Object.entries(digests).sort(([a], [b]) => a.localeCompare(b))]))
    .digest("hex");
  return { ...key, fingerprint, ttlS };
}
