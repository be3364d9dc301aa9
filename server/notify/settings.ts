// The settings of telling people when a job ends, read once with the rest
// (server/config.ts): mail through SMTP_URL from MAIL_FROM; webhooks signed
// with WEBHOOK_SECRET to the hosts WEBHOOK_ALLOWED_HOSTS lists; how many
// attempts a delivery gets, the wait before the second (doubled for each
// one after), and how long one attempt may take. Without SMTP_URL no form
// offers the email field; without WEBHOOK_ALLOWED_HOSTS no webhook is taken.
import type { EnvReader } from "../../jobs/core/settings.ts";
import { parseHostEntry, type HostEntry } from "./hosts.ts";

export const NOTIFY_DEFAULTS = {
  /** Attempts in all of one delivery. */
  NOTIFY_ATTEMPTS: 5,
  /** The wait before the second attempt, doubled for each one after: 10 s, 20 s, 40 s, 80 s. */
  NOTIFY_RETRY_MS: 10_000,
  /** The longest one attempt may take (a connection, a reply, the whole request). */
  NOTIFY_TIMEOUT_MS: 10_000,
} as const;

/** The shortest WEBHOOK_SECRET accepted: a secret short enough to guess would let anyone sign a webhook. */
export const WEBHOOK_SECRET_MIN_CHARS = 32;

export interface NotifySettings {
  /** SMTP_URL (smtp:// or smtps://, with its credentials if any); null: no mail. Never logged. */
  smtpUrl: string | null;
  /** MAIL_FROM: the sender of every mail (required with SMTP_URL). */
  mailFrom: string | null;
  /** WEBHOOK_SECRET: the key of every webhook's signature (required with WEBHOOK_ALLOWED_HOSTS). */
  webhookSecret: string | null;
  /** WEBHOOK_ALLOWED_HOSTS: the hosts a webhook may name; empty: webhooks are off. */
  webhookHosts: readonly HostEntry[];
  attempts: number;
  retryMs: number;
  timeoutMs: number;
}

/** Whether a job can be told by email, by webhook. */
export function channelsOn(settings: NotifySettings): { email: boolean; webhook: boolean } {
  return { email: settings.smtpUrl !== null, webhook: settings.webhookHosts.length > 0 };
}

export function readNotifySettings(read: EnvReader): NotifySettings {
  const d = NOTIFY_DEFAULTS;
  const smtpUrl = read.raw("SMTP_URL") ?? null;
  if (smtpUrl !== null && !/^smtps?:\/\/[^/?#\s]+/i.test(smtpUrl)) {
    // The value may hold a password: the message does not repeat it.
    read.problems.push("SMTP_URL: expected smtp://host:port or smtps://host:port (with user:password@ before the host if the server asks)");
  }
  const mailFrom = read.str("MAIL_FROM", "", (v) =>
    /^[^\r\n]*<?[^\s@<>]+@[^\s@<>]+>?$/.test(v.trim())
      ? undefined
      : "expected an email address (sidejob@example.com, or Name <sidejob@example.com>)",
  );
  if (smtpUrl !== null && mailFrom === "") read.problems.push("MAIL_FROM: required with SMTP_URL: the address mail is sent from");
  const hostsRaw = read.raw("WEBHOOK_ALLOWED_HOSTS") ?? "";
  const entries = hostsRaw
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  const webhookHosts = entries.map(parseHostEntry);
  const bad = entries.filter((_, i) => webhookHosts[i] === null);
  if (bad.length > 0) {
    read.problems.push(
      `WEBHOOK_ALLOWED_HOSTS: ${bad.map((e) => JSON.stringify(e)).join(", ")}: expected a comma-separated list of host or host:port (hooks.example.com, 10.0.0.5:8080, [::1]:9000)`,
    );
  }
  const secret = read.raw("WEBHOOK_SECRET") ?? null;
  if (secret !== null && (secret.length < WEBHOOK_SECRET_MIN_CHARS || /\s/.test(secret))) {
    read.problems.push(
      `WEBHOOK_SECRET: expected at least ${WEBHOOK_SECRET_MIN_CHARS} characters without spaces (for example: openssl rand -hex 32)`,
    );
  }
  if (entries.length > 0 && secret === null) {
    read.problems.push("WEBHOOK_SECRET: required with WEBHOOK_ALLOWED_HOSTS: every webhook is signed with it");
  }
  return {
    smtpUrl,
    mailFrom: mailFrom === "" ? null : mailFrom.trim(),
    webhookSecret: secret,
    webhookHosts: webhookHosts.filter((h) => h !== null),
    attempts: read.int("NOTIFY_ATTEMPTS", d.NOTIFY_ATTEMPTS, 1, 20),
    retryMs: read.int("NOTIFY_RETRY_MS", d.NOTIFY_RETRY_MS, 10, 3_600_000),
    timeoutMs: read.int("NOTIFY_TIMEOUT_MS", d.NOTIFY_TIMEOUT_MS, 100, 120_000),
  };
}

/** PUBLIC_URL: the site's address as people reach it (https://jobs.example.com), without a trailing slash; null when unset. */
export function readPublicUrl(read: EnvReader): string | null {
  const raw = read.str("PUBLIC_URL", "", (v) => {
    try {
      const url = new URL(v);
      return (url.protocol === "http:" || url.protocol === "https:") && !url.search && !url.hash && !url.username
        ? undefined
        : "expected an http:// or https:// address with no query (https://jobs.example.com)";
    } catch {
      return "expected an http:// or https:// address (https://jobs.example.com)";
    }
  });
  return raw === "" ? null : raw.replace(/\/+$/, "");
}
