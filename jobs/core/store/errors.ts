// The store's errors that callers tell apart: a full queue, a missing upload,
// a submit its key already answers, a submit key sent with another request,
// Redis not answering, and Redis refusing writes (the web server turns the
// last kinds into 503s: server/errors.ts), and the file store full or out of
// reach (FILE_STORE_DIR: 507, 503).

/** The job's uploads were not all there when it was to be created (expired, or never stored). */
export class UploadMissingError extends Error {
  constructor() {
    super("An upload of the job is missing");
    this.name = "UploadMissingError";
  }
}

/**
 * The submit key (an Idempotency-Key, a form's token) already names a job
 * created by this same request: nothing was created, and `id` is that job.
 */
export class AlreadySubmittedError extends Error {
  constructor(readonly id: string) {
    super(`This request created job ${id} already`);
    this.name = "AlreadySubmittedError";
  }
}

/** The Idempotency-Key names a job created by another request: nothing was created. */
export class SubmitKeyReusedError extends Error {
  constructor() {
    super("The submit key was used for another request");
    this.name = "SubmitKeyReusedError";
  }
}

export class QueueFullError extends Error {
  constructor() {
    super("The queue is full");
    this.name = "QueueFullError";
  }
}

/** The submitter has as many jobs waiting as one may (JOB_MAX_QUEUED_PER_SUBMITTER): a 429. */
export class SubmitterQueueFullError extends Error {
  constructor(
    readonly limit: number,
    readonly waiting: number,
  ) {
    super(`The submitter has ${waiting} jobs waiting, the most one may have (${limit})`);
    this.name = "SubmitterQueueFullError";
  }
}

/** Redis did not answer (down, unreachable, timed out): a 503 for a web request. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`Redis unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "StoreUnavailableError";
  }
}

/** Too many commands already waiting for Redis on this connection: a 503 as well, at once. */
export class StoreBusyError extends StoreUnavailableError {
  constructor(inFlight: number) {
    super(new Error(`${inFlight} commands already waiting`));
    this.name = "StoreBusyError";
  }
}

/**
 * Redis answers but refuses to write: out of memory (OOM: maxmemory reached,
 * with the noeviction policy), a failed save (MISCONF), a replica (READONLY)
 * or too few replicas (NOREPLICAS). An outage (a 503 for a web request; a job
 * process waits and tries again), not a bug: nothing was written.
 */
export class StoreWriteRefusedError extends StoreUnavailableError {
  /** True when Redis is out of memory (OOM). */
  readonly full: boolean;
  constructor(cause: unknown) {
    super(cause);
    const said = cause instanceof Error ? cause.message : String(cause);
    this.message = `Redis refuses writes: ${said}`;
    this.name = "StoreWriteRefusedError";
    this.full = /\bOOM\b/.test(said);
  }
}

/** The file store's disk is full (ENOSPC) or its quota used up (EDQUOT): nothing was kept (a 507 for an upload). */
export class FileStoreFullError extends Error {
  constructor(cause: unknown) {
    super(`The file store is full: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "FileStoreFullError";
  }
}

/** The file store's directory cannot be written or read (gone, read-only, an I/O error): a 503 for a web request. */
export class FileStoreUnavailableError extends StoreUnavailableError {
  constructor(cause: unknown) {
    super(cause);
    this.message = `The file store cannot be used: ${cause instanceof Error ? cause.message : String(cause)}`;
    this.name = "FileStoreUnavailableError";
  }
}
