// The settings of telling people when a job ends (server/notify/settings.ts),
// read with the rest by loadConfig: what each needs, and one message naming
// every bad one (a password in SMTP_URL never repeated).
import test from "ava";
import { ConfigError, loadConfig } from "../../server/config.ts";
import { NOTIFY_DEFAULTS } from "../../server/notify/settings.ts";

const problems = (env: Record<string, string>): string => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return "";
};

test("without the settings nobody is told, and the delivery defaults hold", (t) => {
  const { notify, publicUrl } = loadConfig({});
  t.deepEqual(notify, {
    smtpUrl: null,
    mailFrom: null,
    webhookSecret: null,
    webhookHosts: [],
    attempts: NOTIFY_DEFAULTS.NOTIFY_ATTEMPTS,
    retryMs: NOTIFY_DEFAULTS.NOTIFY_RETRY_MS,
    timeoutMs: NOTIFY_DEFAULTS.NOTIFY_TIMEOUT_MS,
  });
  t.is(publicUrl, null);
});

test("mail, webhooks and the public address, as given", (t) => {
  const config = loadConfig({
    SMTP_URL: "smtps://user:pw@mail.example.com:465",
    MAIL_FROM: "Jobs <jobs@example.com>",
    WEBHOOK_ALLOWED_HOSTS: "hooks.example.com, 10.0.0.5:8080,[::1]:9000",
    WEBHOOK_SECRET: "k".repeat(32),
    NOTIFY_ATTEMPTS: "2",
    PUBLIC_URL: "https://jobs.example.com/",
  });
  t.is(config.notify.smtpUrl, "smtps://user:pw@mail.example.com:465");
  t.is(config.notify.mailFrom, "Jobs <jobs@example.com>");
  t.deepEqual(config.notify.webhookHosts, [
    { host: "hooks.example.com", port: null },
    { host: "10.0.0.5", port: 8080 },
    { host: "::1", port: 9000 },
  ]);
  t.is(config.notify.attempts, 2);
  t.is(config.publicUrl, "https://jobs.example.com", "without its trailing slash");
});

test("each bad or missing setting is named, and SMTP_URL's password is never repeated", (t) => {
  const message = problems({
    SMTP_URL: "http://user:hunter2@mail.example.com",
    WEBHOOK_ALLOWED_HOSTS: "hooks.example.com,http://x",
    WEBHOOK_SECRET: "short",
    PUBLIC_URL: "ftp://jobs.example.com",
  });
  t.regex(message, /SMTP_URL: expected smtp:\/\/host:port/);
  t.regex(message, /MAIL_FROM: required with SMTP_URL/);
  t.regex(message, /WEBHOOK_ALLOWED_HOSTS: "http:\/\/x"/);
  t.regex(message, /WEBHOOK_SECRET: expected at least 32 characters/);
  t.regex(message, /PUBLIC_URL=/);
  t.notRegex(message, /hunter2/);
  t.regex(problems({ WEBHOOK_ALLOWED_HOSTS: "hooks.example.com" }), /WEBHOOK_SECRET: required with WEBHOOK_ALLOWED_HOSTS/);
});
