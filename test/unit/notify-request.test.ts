// A submit's request to be told when its job ends (server/notify/request.ts):
// which address is chosen, and what is refused, each under its own name.
import test from "ava";
import { checkNotify, notifyEmailOf } from "../../server/notify/request.ts";
import type { NotifySettings } from "../../server/notify/settings.ts";

const OFF: NotifySettings = {
  smtpUrl: null,
  mailFrom: null,
  webhookSecret: null,
  webhookHosts: [],
  attempts: 5,
  retryMs: 10_000,
  timeoutMs: 10_000,
};
const ON: NotifySettings = {
  ...OFF,
  smtpUrl: "smtp://127.0.0.1:25",
  mailFrom: "sidejob@example.com",
  webhookSecret: "k".repeat(32),
  webhookHosts: [{ host: "203.0.113.7", port: 8443 }],
};

test("the address is the one given, none when the field was left empty, and the signed-in person's when no field was sent", (t) => {
  t.is(notifyEmailOf(" me@example.com ", "sso@example.com"), "me@example.com");
  t.is(notifyEmailOf("", "sso@example.com"), null, "a cleared field asks for nothing");
  t.is(notifyEmailOf(undefined, "sso@example.com"), "sso@example.com");
  t.is(notifyEmailOf(undefined, null), null);
  t.is(notifyEmailOf(undefined), null);
});

test("a submit that asks nothing is fine with or without mail and webhooks", async (t) => {
  t.deepEqual(await checkNotify({ email: undefined, webhook: undefined }, OFF), { ok: true, request: null });
  t.deepEqual(await checkNotify({ email: "", webhook: "" }, ON), { ok: true, request: null });
});

test("where mail and webhooks are on, a good request is taken; the signed-in address is used only where mail is sent", async (t) => {
  t.deepEqual(await checkNotify({ email: "me@example.com", webhook: "https://203.0.113.7:8443/hook" }, ON), {
    ok: true,
    request: { email: "me@example.com", webhook: "https://203.0.113.7:8443/hook" },
  });
  t.deepEqual(await checkNotify({ email: undefined, webhook: undefined }, ON, "sso@example.com"), {
    ok: true,
    request: { email: "sso@example.com", webhook: null },
  });
  t.deepEqual(await checkNotify({ email: undefined, webhook: undefined }, OFF, "sso@example.com"), { ok: true, request: null });
});

test("each refusal is under its own name", async (t) => {
  const cases: [Parameters<typeof checkNotify>[0], NotifySettings, Record<string, RegExp>][] = [
    [{ email: "me@example.com", webhook: undefined }, OFF, { notify_email: /sends no email/ }],
    [{ email: undefined, webhook: "https://203.0.113.7:8443/hook" }, OFF, { webhookUrl: /sends no webhooks/ }],
    [{ email: "me at example", webhook: undefined }, ON, { notify_email: /Enter an email address/ }],
    [{ email: "me@localhost", webhook: undefined }, ON, { notify_email: /Enter an email address/ }],
    [{ email: ["a@example.com"], webhook: undefined }, ON, { notify_email: /as text/ }],
    [{ email: undefined, webhook: 42 }, ON, { webhookUrl: /as text/ }],
    [{ email: undefined, webhook: "https://203.0.113.7/hook" }, ON, { webhookUrl: /not one this server sends webhooks to/ }],
    [{ email: "bad", webhook: "https://hooks.example.com/x" }, ON, { notify_email: /Enter/, webhookUrl: /not one this server/ }],
  ];
  for (const [sent, settings, expected] of cases) {
    const check = await checkNotify(sent, settings);
    if (check.ok) {
      t.fail(`accepted ${JSON.stringify(sent)}`);
      continue;
    }
    t.deepEqual(Object.keys(check.errors).sort(), Object.keys(expected).sort(), JSON.stringify(sent));
    for (const [name, message] of Object.entries(expected)) t.regex(check.errors[name] ?? "", message, JSON.stringify(sent));
  }
});
