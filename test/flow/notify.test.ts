// Told when it ends: a real SMTP server (Nodemailer's smtp-server) and a
// real HTTP receiver, both started here. An email and a signed webhook
// arrive once for a finished job; a webhook that is malformed, not on the
// allow-list or aimed at a private address is refused at submit (422) with
// nothing written; a receiver that answers 500 is tried again after a wait;
// one that went away is tried NOTIFY_ATTEMPTS times, and its failure is
// recorded and shown on the job's /admin page.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import test, { type ExecutionContext } from "ava";
import { SMTPServer } from "smtp-server";
import { startApp, type TestApp } from "../support/app.ts";
import { keysUnder, useRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import type { Delivery } from "../../jobs/core/store.ts";

const redis = useRedis(test);
const SECRET = "w".repeat(40);
const ADMIN = { ADMIN_PASSWORD: "correct horse battery", SESSION_SECRET: "s".repeat(40) };
const PUBLIC_URL = "https://jobs.example.com";
const COUNT = { start: 1, end: 3, increment: 1 };

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/** An SMTP server on a free loopback port that keeps every message it is given. */
async function startSmtp(t: ExecutionContext): Promise<{ port: number; mails: Mail[] }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

interface Hook {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An HTTP receiver on a free loopback port: answers each POST with the next of `answers` (the last one from then on). */
async function startReceiver(
  t: ExecutionContext,
  answers: number[] = [200],
): Promise<{ port: number; hooks: Hook[]; close(): Promise<void> }> {
  const hooks: Hook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      hooks.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.statusCode = answers[Math.min(hooks.length, answers.length) - 1]!;
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t.teardown(close);
  return { port: (server.address() as AddressInfo).port, hooks, close };
}

function notifyEnv(smtpPort: number, hookPort: number): Record<string, string> {
  return {
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    MAIL_FROM: "sidejob@example.com",
    WEBHOOK_SECRET: SECRET,
    // The receiver's address, listed; "localhost" (on port 80) is listed by name only, and resolves to loopback.
    WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${hookPort},localhost`,
    NOTIFY_ATTEMPTS: "3",
    NOTIFY_RETRY_MS: "200",
    NOTIFY_TIMEOUT_MS: "5000",
    PUBLIC_URL,
    ...ADMIN,
  };
}

async function submitJson(app: TestApp, body: object): Promise<Response> {
  return fetch(`${app.url}/count`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

/** The signature a receiver checks: HMAC-SHA256 of the body with the shared secret, compared in constant time. */
function signedBy(hook: Hook, secret: string): boolean {
  const sent = String(hook.headers["x-sidejob-signature"] ?? "");
  const expected = `sha256=${crypto.createHmac("sha256", secret).update(hook.body).digest("hex")}`;
  return sent.length === expected.length && crypto.timingSafeEqual(Buffer.from(sent), Buffer.from(expected));
}

async function delivery(app: TestApp, id: string, channel: "email" | "webhook"): Promise<Delivery | undefined> {
  return (await app.store.notifications(id)).deliveries[channel];
}

test("a finished job's email and signed webhook each arrive once, with its id, state, run time and page", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t);
  const app = await startApp(t, { redis, name: "notify-ok", env: notifyEnv(smtp.port, receiver.port) });
  const page = await (await app.get("/")).text();
  t.regex(page, /name="notify_email"/, "the form offers the email field where mail is sent");

  const res = await submitJson(app, { ...COUNT, notify_email: "person@example.com", webhookUrl: `http://127.0.0.1:${receiver.port}/hook` });
  t.is(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  await app.waitForState(id, "succeeded");
  await waitFor(
    async () => (await delivery(app, id, "webhook"))?.state === "sent" && (await delivery(app, id, "email"))?.state === "sent",
    {
      message: "both deliveries recorded sent",
    },
  );

  t.is(receiver.hooks.length, 1);
  const [hook] = receiver.hooks;
  t.true(signedBy(hook!, SECRET), "X-Sidejob-Signature is the HMAC of the body");
  t.false(signedBy(hook!, "x".repeat(40)), "and of no other secret");
  t.is(hook!.headers["content-type"], "application/json");
  const body = JSON.parse(hook!.body) as Record<string, unknown>;
  t.like(body, { event: "job.ended", id, type: "count", state: "succeeded", reason: null, url: `${PUBLIC_URL}/jobs/${id}` });
  t.is(typeof body.durationMs, "number");
  t.regex(String(body.finishedAt), /^\d{4}-\d\d-\d\dT/);

  t.is(smtp.mails.length, 1);
  const [mail] = smtp.mails;
  t.deepEqual(mail!.to, ["person@example.com"]);
  t.is(mail!.from, "sidejob@example.com");
  t.regex(mail!.raw, /^Subject: .*succeeded/m);
  t.regex(mail!.raw, new RegExp(`${PUBLIC_URL}/jobs/${id}`));
  t.regex(mail!.raw, /Content-Type: text\/plain/i);

  const recorded = await delivery(app, id, "webhook");
  t.like(recorded, { state: "sent", attempts: 1, lastStatus: 200, lastError: null });
  // Told once: the telling is taken by one instance, and this one does not send it twice.
  t.is(await app.store.takeNotify(id, "another-instance"), null, "no other instance can take it");
});

test("a webhook URL that is malformed, not allowed or aimed at a private address is refused at submit, and nothing is written", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t);
  const app = await startApp(t, { redis, name: "notify-refused", env: notifyEnv(smtp.port, receiver.port) });
  const cases: [string, RegExp][] = [
    ["not a url", /not a URL/],
    [`ftp://127.0.0.1:${receiver.port}/hook`, /http:\/\/ or https:\/\//],
    [`http://user:secret@127.0.0.1:${receiver.port}/hook`, /user name or password/],
    ["http://hooks.example.org/hook", /not one this server sends webhooks to/],
    [`http://127.0.0.1:${receiver.port + 1}/hook`, /not one this server sends webhooks to/],
    ["http://10.0.0.1/hook", /not one this server sends webhooks to/],
    // Listed by name, but the name resolves to a loopback address that is not listed itself.
    ["http://localhost/hook", /resolves to .*private, loopback or reserved address/],
  ];
  for (const [url, message] of cases) {
    const res = await submitJson(app, { ...COUNT, webhookUrl: url });
    t.is(res.status, 422, url);
    const body = (await res.json()) as { error: string; fields: Record<string, string> };
    t.is(body.error, "invalid-input", url);
    t.regex(body.fields.webhookUrl ?? "", message, url);
  }
  const bad = await submitJson(app, { ...COUNT, notify_email: "not an address" });
  t.is(bad.status, 422);
  t.regex(((await bad.json()) as { fields: Record<string, string> }).fields.notify_email ?? "", /Enter an email address/);

  t.deepEqual(
    (await keysUnder(redis.client, app.prefix)).filter((k) => k.includes(":job:")),
    [],
    "no job was written",
  );
  t.deepEqual(fs.readdirSync(app.logDir), [], "no process was started");
  t.is(receiver.hooks.length, 0);
});

test("without SMTP_URL the form has no email field and a JSON request for email is refused, as is a webhook without WEBHOOK_ALLOWED_HOSTS", async (t) => {
  const app = await startApp(t, { redis, name: "notify-off" });
  t.notRegex(await (await app.get("/")).text(), /notify_email/);
  const mail = await submitJson(app, { ...COUNT, notify_email: "person@example.com" });
  t.is(mail.status, 422);
  t.regex(((await mail.json()) as { fields: Record<string, string> }).fields.notify_email ?? "", /sends no email \(it has no SMTP_URL\)/);
  const hook = await submitJson(app, { ...COUNT, webhookUrl: "https://hooks.example.com/x" });
  t.is(hook.status, 422);
  t.regex(((await hook.json()) as { fields: Record<string, string> }).fields.webhookUrl ?? "", /sends no webhooks/);
  t.deepEqual(
    (await keysUnder(redis.client, app.prefix)).filter((k) => k.includes(":job:")),
    [],
  );
});

test("a receiver that answers 500 is tried again after NOTIFY_RETRY_MS, and the 200 after it is recorded", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t, [500, 200]);
  const app = await startApp(t, { redis, name: "notify-retry", env: notifyEnv(smtp.port, receiver.port) });
  const res = await submitJson(app, { ...COUNT, webhookUrl: `http://127.0.0.1:${receiver.port}/hook` });
  t.is(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  await waitFor(async () => (await delivery(app, id, "webhook"))?.state === "sent", { message: "the webhook recorded sent" });
  t.is(receiver.hooks.length, 2);
  const [first, second] = receiver.hooks;
  t.true(second!.at - first!.at >= 200, `waited ${second!.at - first!.at} ms before the second attempt`);
  t.is(first!.body, second!.body, "the same body, signed the same");
  t.true(signedBy(second!, SECRET));
  t.like(await delivery(app, id, "webhook"), { state: "sent", attempts: 2, lastStatus: 200 });
  const metrics = await app.telemetry.metrics.text();
  for (const [outcome, count] of [
    ["retried", 1],
    ["sent", 1],
    ["failed", 0],
  ] as const) {
    t.regex(
      metrics,
      new RegExp(`^sidejob_notify_attempts_total\\{channel="webhook",outcome="${outcome}",[^}]*\\} ${count}$`, "m"),
      outcome,
    );
  }
  t.is(smtp.mails.length, 0, "no email was asked");
});

test("a receiver that went away is tried NOTIFY_ATTEMPTS times; the failure is recorded and shown on the job's /admin page", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t);
  const app = await startApp(t, { redis, name: "notify-gone", env: notifyEnv(smtp.port, receiver.port) });
  // Allowed when submitted; the receiver is gone by the time the job ends.
  await receiver.close();
  const res = await submitJson(app, { ...COUNT, webhookUrl: `http://127.0.0.1:${receiver.port}/hook` });
  t.is(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const failed = await waitFor(async () => {
    const d = await delivery(app, id, "webhook");
    return d?.state === "failed" ? d : null;
  });
  t.is(failed.attempts, 3);
  t.regex(failed.lastError ?? "", /ECONNREFUSED/);

  const login = await app.post("/admin/login", { password: ADMIN.ADMIN_PASSWORD, next: "/admin" });
  t.is(login.status, 303);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
  const page = await (await app.get(`/admin/jobs/${id}`, { Cookie: cookie })).text();
  t.regex(page, /Told when it ends/);
  t.regex(page, new RegExp(`http://127.0.0.1:${receiver.port}/hook`));
  t.regex(page, /<td>Failed<\/td><td>3<\/td><td>[^<]*ECONNREFUSED/);
  const json = (await (await app.get(`/admin/jobs/${id}`, { Cookie: cookie, Accept: "application/json" })).json()) as {
    notifications: { channel: string; state: string; attempts: number }[];
  };
  t.like(json.notifications[0], { channel: "webhook", state: "Failed", attempts: 3 });
});

test("with two instances on one Redis, a job's end is told once, by the instance that reported it", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t);
  const env = notifyEnv(smtp.port, receiver.port);
  const first = await startApp(t, { redis, name: "notify-two", env });
  const second = await startApp(t, { redis, prefix: first.prefix, env });
  const ids: string[] = [];
  for (const app of [first, second, first, second]) {
    const res = await submitJson(app, {
      ...COUNT,
      notify_email: "person@example.com",
      webhookUrl: `http://127.0.0.1:${receiver.port}/hook`,
    });
    t.is(res.status, 202);
    ids.push(((await res.json()) as { id: string }).id);
  }
  for (const id of ids) {
    await waitFor(
      async () => (await delivery(first, id, "webhook"))?.state === "sent" && (await delivery(first, id, "email"))?.state === "sent",
      {
        message: `both deliveries of ${id} recorded sent`,
      },
    );
  }
  const told = receiver.hooks.map((h) => (JSON.parse(h.body) as { id: string }).id);
  t.deepEqual([...told].sort(), [...ids].sort(), "one webhook per job");
  t.is(smtp.mails.length, ids.length, "one email per job");
});

test("a page's form takes an address, keeps it when the form is sent back, and the email arrives", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t);
  const app = await startApp(t, { redis, name: "notify-form", env: notifyEnv(smtp.port, receiver.port) });
  const refused = await app.post("/count", { start: "1", end: "x", increment: "1", notify_email: "me@example.com" });
  t.is(refused.status, 422);
  const page = await refused.text();
  t.regex(page, /name="notify_email"[^>]*value="me@example.com"/, "the address is kept on the form sent back");
  const bad = await (await app.post("/count", { start: "1", end: "3", increment: "1", notify_email: "me at example" })).text();
  t.regex(bad, /<a href="#notify_email">Enter an email address/, "the error summary links to the field");
  const res = await app.post("/count", { start: "1", end: "3", increment: "1", notify_email: "me@example.com" });
  t.is(res.status, 303);
  const id = res.headers.get("location")!.split("/").pop()!;
  await waitFor(() => smtp.mails.length === 1, { message: "the email" });
  t.deepEqual(smtp.mails[0]!.to, ["me@example.com"]);
  t.regex(smtp.mails[0]!.raw, new RegExp(`/jobs/${id}`));
  const empty = await app.post("/count", { start: "1", end: "3", increment: "1", notify_email: "" });
  t.is(empty.status, 303, "an empty field asks for nothing");
});

test("a person signed in through the proxy finds their address on the form, and a JSON submit that names none emails them", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t);
  const app = await startApp(t, {
    redis,
    name: "notify-signed-in",
    env: {
      ...notifyEnv(smtp.port, receiver.port),
      TRUSTED_USER_HEADER: "X-Forwarded-User",
      TRUSTED_EMAIL_HEADER: "X-Forwarded-Email",
      TRUSTED_PROXIES: "127.0.0.1,::1",
    },
  });
  const person = { "X-Forwarded-User": "ada", "X-Forwarded-Email": "ada@example.com" };
  const form = await (await app.get("/", person)).text();
  t.regex(form, /name="notify_email"[^>]*value="ada@example.com"/);
  t.regex(await (await app.get("/")).text(), /name="notify_email"[^>]*value=""/, "no one signed in: the field is empty");
  const res = await fetch(`${app.url}/count`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...person },
    body: JSON.stringify(COUNT),
  });
  t.is(res.status, 202);
  await waitFor(() => smtp.mails.length === 1, { message: "the email" });
  t.deepEqual(smtp.mails[0]!.to, ["ada@example.com"]);
  const cleared = await app.post("/count", { start: "1", end: "3", increment: "1", notify_email: "" }, person);
  t.is(cleared.status, 303);
  const clearedId = cleared.headers.get("location")!.split("/").pop()!;
  t.deepEqual((await app.store.notifications(clearedId)).request, { email: null, webhook: null }, "a cleared field asks for nothing");
});

test("a type with a file takes webhookUrl as a field of its multipart submit; refused, its upload is not kept", async (t) => {
  const smtp = await startSmtp(t);
  const receiver = await startReceiver(t);
  const app = await startApp(t, { redis, name: "notify-multipart", env: notifyEnv(smtp.port, receiver.port) });
  const send = (webhookUrl: string) => {
    const form = new FormData();
    form.set("file", new Blob(["name,age\nada,36\n"], { type: "text/csv" }), "people.csv");
    form.set("delimiter", "detect");
    form.set("header", "true");
    form.set("webhookUrl", webhookUrl);
    return fetch(`${app.url}/jobs/new/csv-check`, { method: "POST", body: form, headers: { Accept: "application/json" } });
  };
  const refused = await send("http://hooks.example.org/hook");
  t.is(refused.status, 422);
  t.regex(((await refused.json()) as { fields: Record<string, string> }).fields.webhookUrl ?? "", /not one this server sends webhooks to/);
  t.deepEqual(
    (await keysUnder(redis.client, app.prefix)).filter((k) => k.includes(":job:")),
    [],
    "neither a job nor its upload was kept",
  );
  const res = await send(`http://127.0.0.1:${receiver.port}/hook`);
  t.is(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  await waitFor(async () => (await delivery(app, id, "webhook"))?.state === "sent", { message: "the webhook recorded sent" });
  t.like(JSON.parse(receiver.hooks[0]!.body), { id, type: "csv-check", state: "succeeded" });
  t.true(signedBy(receiver.hooks[0]!, SECRET));
});
