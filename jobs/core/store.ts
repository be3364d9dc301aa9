// The store: the only code that knows the Redis keys and the job record.
// Callers import it from here; it lives in store/, one concept per file:
//   store/job-store.ts    JobStore, the object callers hold: each method says what it does and calls one of the files below
//   store/keys.ts         the key layout and the partitions: every key name is built there (the layout is written out at its top)
//   store/record.ts       the job record, its states and end reasons, ids, and parsing a record's hash
//   store/errors.ts       the errors callers tell apart (queue full, upload missing, a submit already made or its key
//                         reused, Redis unavailable, busy or refusing writes)
//   store/core.ts         the connection and call(): the in-flight bound, the deadline, Redis unavailable
//   store/transitions.ts  create, claim, release, start, report, finish, cancel, sweep (one Lua script each: lua/)
//   store/reads.ts        one job whole, its results, summaries of many, queue and lease counts
//   store/artifacts.ts    uploads, the log, output files, in Redis
//   store/file-dir.ts     the same as files on a disk (FILE_STORE_DIR), Redis holding what says they exist
//   store/list.ts         the operators' jobs list, read from its index
//   store/operator.ts     the operators' actions, the instances' heartbeats, counts and charts
//   store/login.ts        the operator's failed logins and sessions
//   store/audit.ts        the operators' audit trail: who did what to which jobs, and when
//   store/notify.ts       who is to be told when a job ends, and how each delivery went
export { LOG_LINE_MAX_CHARS, LOG_MAX_LINES, logCutMarker, UPLOAD_READ_BYTES, UPLOAD_SAFETY_TTL_S } from "./store/artifacts.ts";
export { WriteRefusals, type StoreEnd, type StoreOptions } from "./store/core.ts";
export {
  AlreadySubmittedError,
  FileStoreFullError,
  FileStoreUnavailableError,
  QueueFullError,
  StoreBusyError,
  StoreUnavailableError,
  StoreWriteRefusedError,
  SubmitKeyReusedError,
  SubmitterQueueFullError,
  UploadMissingError,
} from "./store/errors.ts";
export { JobStore } from "./store/job-store.ts";
export type { OnceScope, Partition } from "./store/keys.ts";
export type { JobRow, ListCursor, ListFilter } from "./store/list.ts";
export { AUDIT_JOBS_MAX, type AuditEntry } from "./store/audit.ts";
export {
  NOTIFY_CHANNELS,
  type AskReply,
  type Delivery,
  type DeliveryState,
  type NotifyChannel,
  type NotifyRequest,
} from "./store/notify.ts";
export {
  END_REASONS,
  isJobId,
  isTerminal,
  JOB_STATES,
  newJobId,
  RETRYABLE_REASONS,
  TERMINAL_STATES,
  type AttemptRecord,
  type EndReason,
  type RetryableReason,
  type FileEntry,
  type JobRecord,
  type JobState,
  type JobSummary,
  type Outcome,
} from "./store/record.ts";
export type {
  CancelReply,
  Claimed,
  FinishReply,
  NewJob,
  Progress,
  ReportReply,
  RetryPolicy,
  SubmitOnce,
  SweepReply,
  TakenReport,
} from "./store/transitions.ts";
