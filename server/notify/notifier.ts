// Tells people when a job ends, once per end, whatever the number of
// instances: the instance that takes an end's report (server/job-events.ts,
// `finished`) takes the telling too (store: takeNotify, once per job), and
// sends what was asked at submit: an email, a webhook, or both. A submit
// whose job had ended, and its end been reported, before the request was
// kept takes it the same way (tellEnded), so one or the other tells it.
//
// Nothing here holds up the end's report nor a request: deliveries wait in
// this instance's memory, at most MAX_IN_FLIGHT attempts at once, each
// within NOTIFY_TIMEOUT_MS; a failed attempt that may pass (a 5xx, a refused
// connection, a timeout) is tried again after NOTIFY_RETRY_MS, doubled for
// each one after, up to NOTIFY_ATTEMPTS in all. Each attempt's outcome is
// recorded with the job (store: recordDelivery), where /admin shows it. An
// instance that stops meanwhile drops what it still holds: its record says
// where each delivery was (pending, or retrying and when).
import type { JobType } from "../../jobs/core/job-type.ts";
import type { Delivery, JobRecord, JobStore, NotifyChannel, NotifyRequest } from "../../jobs/core/store.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { Mailer } from "./mail.ts";
import { endMessage, type EndedJob, type EndMessage } from "./message.ts";
import { channelsOn, type NotifySettings } from "./settings.ts";
import { AttemptError, postWebhook } from "./webhook.ts";

/** Attempts made at once by one instance, emails and webhooks together. */
export const MAX_IN_FLIGHT = 8;
/** Deliveries one instance holds at most, waiting or between attempts; one more is recorded failed at once. */
export const MAX_HELD = 1000;
/** How often, and how long in all, the telling of an end is taken again while Redis does not answer. */
const TAKE_RETRY_MS = 500;
const TAKE_GIVE_UP_MS = 60_000;
/** The ids whose telling this instance took lately: a take of its own answered again (after a lost reply) is not sent twice. */
const TAKEN_KEPT = 10_000;

interface Task {
  id: string;
  channel: NotifyChannel;
  to: string;
  message: EndMessage;
  /** Attempts made so far. */
  attempts: number;
}

export interface NotifierOptions {
  /** Where the telling is taken and outcomes recorded. */
  store: JobStore;
  settings: NotifySettings;
  /** Every job type known (a message names the job by its type's title). */
  types: readonly JobType[];
  instanceId: string;
  logger: Logger;
  siteName: string;
  /** PUBLIC_URL; without it, the address this instance listens on (listening()). */
  publicUrl: string | null;
  userAgent: string;
  /** Where each attempt is counted (sidejob_notify_attempts_total), if anywhere. */
  metrics?: Metrics | null;
}

export class Notifier {
  private readonly mailer: Mailer | null;
  private baseUrl: string;
  private readonly waiting: Task[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly aborts = new Set<AbortController>();
  private inFlight = 0;
  /** Tasks waiting, in flight or between attempts. */
  private held = 0;
  private closed = false;
  private readonly taken = new Set<string>();

  constructor(private readonly options: NotifierOptions) {
    const { settings } = options;
    this.mailer =
      settings.smtpUrl && settings.mailFrom
        ? new Mailer({ smtpUrl: settings.smtpUrl, from: settings.mailFrom, timeoutMs: settings.timeoutMs })
        : null;
    this.baseUrl = options.publicUrl ?? "";
  }

  /** Whether this instance sends anything at all. */
  private get tells(): boolean {
    const on = channelsOn(this.options.settings);
    return on.email || on.webhook;
  }

  /** The instance listens at url: the pages' address in messages, unless PUBLIC_URL names another. */
  listening(url: string): void {
    if (!this.options.publicUrl) this.baseUrl = url;
  }

  /**
   * An end this instance reported (its record as read then): told if someone
   * asked. Never throws, never waits. A deployment that tells nobody (no
   * SMTP_URL, no WEBHOOK_ALLOWED_HOSTS) pays nothing: no take is sent.
   */
  jobEnded(job: JobRecord): void {
    if (this.closed || !this.tells) return;
    this.takeSafely(job.id, job);
  }

  /** A submit kept its request after the job's end was reported: the telling is taken here (once, as jobEnded's). */
  tellEnded(id: string): void {
    if (this.closed || !this.tells) return;
    this.takeSafely(id, null);
  }

  /** A take whose every failure is logged: nothing here may end the process with an unhandled rejection. */
  private takeSafely(id: string, known: EndedJob | null): void {
    this.take(id, Date.now() + TAKE_GIVE_UP_MS, known).catch((err: Error) => {
      this.options.logger.warn(
        { event: "job-notify-untaken", job: id },
        `job ${id}: could not take the telling of its end (${err.message})`,
      );
    });
  }

  private async take(id: string, deadline: number, known: EndedJob | null): Promise<void> {
    const { store, instanceId, logger } = this.options;
    let request: NotifyRequest | null;
    let job: EndedJob | null = known;
    try {
      request = await store.takeNotify(id, instanceId);
      if (request && !job) job = await store.read(id, "auto", { resultLimit: 1 });
    } catch {
      if (this.closed || Date.now() > deadline) {
        logger.warn({ event: "job-notify-untaken", job: id }, `could not reach Redis to tell the end of job ${id}`);
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.take(id, deadline, known).catch(() => {});
      }, TAKE_RETRY_MS);
      timer.unref();
      this.timers.add(timer);
      return;
    }
    if (!request || !job || this.taken.has(id)) return;
    this.taken.add(id);
    if (this.taken.size > TAKEN_KEPT) this.taken.delete(this.taken.values().next().value!);
    const message = endMessage(job, this.options.types, this.baseUrl, this.options.siteName);
    if (request.email) this.hold({ id, channel: "email", to: request.email, message, attempts: 0 });
    if (request.webhook) this.hold({ id, channel: "webhook", to: request.webhook, message, attempts: 0 });
  }

  private hold(task: Task): void {
    if (this.held >= MAX_HELD) {
      this.record(task, {
        state: "failed",
        lastStatus: null,
        lastError: `Not sent: ${MAX_HELD} deliveries were waiting on this instance.`,
      });
      return;
    }
    this.held++;
    this.waiting.push(task);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
      const task = this.waiting.shift()!;
      this.inFlight++;
      this.attempt(task)
        .catch((err: Error) => {
          this.options.logger.warn({ event: "job-notify-failed", job: task.id, channel: task.channel }, `job ${task.id}: ${err.message}`);
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  private async attempt(task: Task): Promise<void> {
    const { settings, logger } = this.options;
    task.attempts++;
    const abort = new AbortController();
    this.aborts.add(abort);
    let status: number | null;
    try {
      status = await this.send(task, abort.signal);
    } catch (err) {
      if (this.closed) return;
      const failure = err instanceof AttemptError ? err : new AttemptError((err as Error).message, null, true);
      const again = failure.retry && task.attempts < settings.attempts;
      const nextAt = again ? Date.now() + settings.retryMs * 2 ** (task.attempts - 1) : null;
      this.record(task, { state: again ? "retrying" : "failed", lastStatus: failure.status, lastError: failure.message, nextAt });
      this.options.metrics?.notifyAttempt(task.channel, again ? "retried" : "failed");
      logger.warn(
        { event: "job-notify-failed", job: task.id, channel: task.channel, attempt: task.attempts, status: failure.status, retry: again },
        `job ${task.id}: ${task.channel} attempt ${task.attempts} failed: ${failure.message}${again ? "" : " (given up)"}`,
      );
      if (!again) {
        this.held--;
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.waiting.push(task);
        this.pump();
      }, nextAt! - Date.now());
      timer.unref();
      this.timers.add(timer);
      return;
    } finally {
      this.aborts.delete(abort);
    }
    this.held--;
    this.record(task, { state: "sent", lastStatus: status, lastError: null });
    this.options.metrics?.notifyAttempt(task.channel, "sent");
    logger.info(
      { event: "job-notified", job: task.id, channel: task.channel, attempt: task.attempts, status },
      `job ${task.id}: ${task.channel} sent (attempt ${task.attempts})`,
    );
  }

  private send(task: Task, signal: AbortSignal): Promise<number | null> {
    const { settings, userAgent } = this.options;
    const { message } = task;
    if (task.channel === "email") {
      if (!this.mailer) return Promise.reject(new AttemptError("This server sends no email (no SMTP_URL).", null, false));
      return this.mailer.send(task.to, message.subject, message.text);
    }
    if (!settings.webhookSecret) return Promise.reject(new AttemptError("This server sends no webhooks (no WEBHOOK_SECRET).", null, false));
    return postWebhook(task.to, JSON.stringify(message.body), {
      secret: settings.webhookSecret,
      hosts: settings.webhookHosts,
      timeoutMs: settings.timeoutMs,
      userAgent,
      signal,
    });
  }

  /** Records a delivery's progress with its job; a record Redis does not take is only logged (the delivery goes on). */
  private record(task: Task, outcome: Pick<Delivery, "state" | "lastStatus" | "lastError"> & { nextAt?: number | null }): void {
    const delivery: Delivery = { ...outcome, attempts: task.attempts, at: Date.now(), nextAt: outcome.nextAt ?? null };
    this.options.store.recordDelivery(task.id, task.channel, delivery).catch((err: Error) => {
      this.options.logger.warn(
        { event: "job-notify-unrecorded", job: task.id, channel: task.channel },
        `job ${task.id}: could not record the ${task.channel} delivery (${err.message})`,
      );
    });
  }

  /** Stops: deliveries still held are dropped (their records say where they were), attempts in flight cut. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const abort of this.aborts) abort.abort();
    this.waiting.length = 0;
    this.mailer?.close();
  }
}
