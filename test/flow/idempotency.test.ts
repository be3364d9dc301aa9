// Idempotent submits: an Idempotency-Key header (one request per key) and
// the form's one-time token (one job per set of values), each sent again as
// a client that retries, a double click or the back button does; a submit
// whose answer was lost while Redis held its writes; uploads under a key;
// and the key's record (where it lives, how long, and when it is free again).
import test, { type ExecutionContext } from "ava";
import { JOB_STATES } from "../../jobs/core/store.ts";
import { startApp, type TestApp } from "../support/app.ts";
import { keysUnder, startRedis, useRedis } from "../support/redis.ts";
import { waitFor, within } from "../support/wait.ts";
import { START_GRACE_MS } from "../../server/supervisor/index.ts";

const redis = useRedis(test);

const COUNT = { start: 1, end: 3, increment: 1 };

async function app(t: ExecutionContext, name: string, env: Record<string, string> = {}): Promise<TestApp> {
  return startApp(t, { redis, name, env });
}

/**
 * A JSON submit of the counter, with an Idempotency-Key when one is given.
 * With a key, a request that fails on the way (a keep-alive connection the
 * server closed as it was reused, on a busy machine) is sent again once, as
 * the key allows any client to.
 */
async function postJson(a: TestApp, body: object, key?: string, path = "/count"): Promise<Response> {
  const send = () =>
    fetch(a.url + path, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        ...(key === undefined ? {} : { "Idempotency-Key": key }),
      },
      body: JSON.stringify(body),
    });
  if (key === undefined) return send();
  return send().catch((err: unknown) => {
    if (err instanceof TypeError && err.message === "fetch failed") return send();
    throw err;
  });
}

/** The id a 202 or 303 answer names. */
async function idOf(res: Response, status: 202 | 303): Promise<string> {
  if (res.status !== status) throw new Error(`answered ${res.status}, not ${status}: ${await res.text()}`);
  await res.arrayBuffer();
  return res.headers.get("location")!.split("/").pop()!;
}

/** Every job this app's store holds, of every type and state. */
async function allJobs(a: TestApp): Promise<string[]> {
  return a.store.allIds(["count", "primes", "csv-check"], JOB_STATES, 1000);
}

/** The hidden token of the job form a page carries. */
async function tokenOn(a: TestApp, path: string): Promise<string> {
  const res = await a.get(path);
  const page = await res.text();
  const token = /<input type="hidden" name="submission" value="([^"]+)">/.exec(page)?.[1];
  if (!token) throw new Error(`no submission token on ${path}`);
  return token;
}

/** Sends the csv-check form as a browser does: fields in the order given (the page puts the token first). */
function postCsv(
  a: TestApp,
  parts: [name: string, value: string | { file: string }][],
  headers: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === "string") form.append(name, value);
    else form.append(name, new Blob([value.file], { type: "text/csv" }), "people.csv");
  }
  return fetch(`${a.url}/jobs/new/csv-check`, { method: "POST", body: form, redirect: "manual", headers });
}

const CSV = "name,age\nAda,36\nAlan,41\n";

/** The upload keys under this app's prefix, by the job id they are stored under. */
async function uploadOwners(a: TestApp): Promise<string[]> {
  const keys = (await keysUnder(redis.client, a.prefix)).filter((k) => k.includes(":upload:"));
  return [...new Set(keys.map((k) => /:job:([0-9a-f]{32}):upload:/.exec(k)![1]!))];
}

test("the same Idempotency-Key sent twice creates one job, and both answers name it", async (t) => {
  const a = await app(t, "key-twice");
  const key = "c0ffee00-1111-4222-8333-444455556666";
  const first = await idOf(await postJson(a, COUNT, key), 202);
  const again = await postJson(a, COUNT, key);
  t.is(again.status, 202);
  t.like(await again.json(), { id: first, url: `/jobs/${first}` });
  t.is(again.headers.get("location"), `/jobs/${first}`);
  // The same request written another way (a number as a string) is the same request.
  t.is(await idOf(await postJson(a, { start: "1", end: 3, increment: 1 }, key), 202), first);
  t.deepEqual(await allJobs(a), [first]);
});

test("the key in the draft's quoted form is the same key", async (t) => {
  const a = await app(t, "key-quoted");
  const first = await idOf(await postJson(a, COUNT, "quoted-key-0123456789"), 202);
  t.is(await idOf(await postJson(a, COUNT, '"quoted-key-0123456789"'), 202), first);
  t.deepEqual(await allJobs(a), [first]);
});

test("the same Idempotency-Key with another request answers 422 idempotency-key-reused and creates nothing", async (t) => {
  const a = await app(t, "key-reused");
  const key = "reused-key-000000000001";
  const first = await idOf(await postJson(a, COUNT, key), 202);
  const other = await postJson(a, { ...COUNT, end: 4 }, key);
  t.is(other.status, 422);
  const body = (await other.json()) as { error: string; message: string };
  t.is(body.error, "idempotency-key-reused");
  t.regex(body.message, /sent before with another request.*Nothing was created/);
  t.deepEqual(await allJobs(a), [first]);
  // The first request under the key still gets its job.
  t.is(await idOf(await postJson(a, COUNT, key), 202), first);
});

const BAD_KEYS: [what: string, key: string][] = [
  ["shorter than 16 characters", "too-short"],
  ["longer than 255 characters", "k".repeat(256)],
  ["with a space", "a key with spaces in it"],
  ["with a character outside ASCII", "clé-0123456789abcdef"],
  ["a quoted string with nothing in it", '""'],
];

for (const [what, key] of BAD_KEYS) {
  test(`an Idempotency-Key ${what} answers 400 bad-idempotency-key and creates nothing`, async (t) => {
    const a = await app(t, "bad-key");
    const res = await postJson(a, COUNT, key);
    t.is(res.status, 400);
    const body = (await res.json()) as { error: string; message: string };
    t.is(body.error, "bad-idempotency-key");
    t.regex(body.message, /16 to 255 visible ASCII characters/);
    t.deepEqual(await allJobs(a), []);
    t.deepEqual(await keysUnder(redis.client, a.prefix), []);
  });
}

test("ten identical submits at once under one key create one job, and every answer names it", async (t) => {
  const a = await app(t, "key-concurrent");
  const key = "concurrent-key-0000000001";
  const ids = await Promise.all(Array.from({ length: 10 }, async () => idOf(await postJson(a, COUNT, key), 202)));
  t.is(new Set(ids).size, 1);
  t.deepEqual(await allJobs(a), [ids[0]]);
});

test("the form's token sent twice (a double click, back and submit again) gives one job: both 303 to its page", async (t) => {
  const a = await app(t, "token-twice");
  const token = await tokenOn(a, "/");
  const form = { submission: token, start: "1", end: "3", increment: "1" };
  const first = await idOf(await a.post("/count", form), 303);
  t.is(await idOf(await a.post("/count", form), 303), first);
  t.deepEqual(await allJobs(a), [first]);
  // The token is no parameter of the job.
  const job = await a.waitForState(first, "succeeded");
  t.deepEqual(job.params, { start: 1, end: 3, increment: 1 });
});

test("the form's token with changed values is a new job; the first values again are the first job", async (t) => {
  const a = await app(t, "token-changed");
  const token = await tokenOn(a, "/jobs/new/count");
  const first = await idOf(await a.post("/count", { submission: token, start: "1", end: "3", increment: "1" }), 303);
  const changed = await idOf(await a.post("/count", { submission: token, start: "1", end: "5", increment: "1" }), 303);
  t.not(changed, first);
  t.is(await idOf(await a.post("/count", { submission: token, start: "1", end: "3", increment: "1" }), 303), first);
  t.deepEqual((await allJobs(a)).sort(), [first, changed].sort());
});

test("a form token no page of this site makes answers 400 and creates nothing", async (t) => {
  const a = await app(t, "token-bad");
  const res = await a.post("/count", { submission: "short", start: "1", end: "3", increment: "1" });
  t.is(res.status, 400);
  t.regex(await res.text(), /load the form again/);
  t.deepEqual(await allJobs(a), []);
});

test("every form page carries a new token at each render and is asked for anew at each visit (private, no-cache)", async (t) => {
  const a = await app(t, "token-pages");
  const pages = ["/", "/jobs/new/count", "/jobs/new/primes", "/jobs/new/csv-check", "/count/1/5"];
  const tokens = [];
  for (const path of pages) {
    const res = await a.get(path);
    t.is(res.headers.get("cache-control"), "private, no-cache", path);
    tokens.push(await tokenOn(a, path));
  }
  tokens.push(await tokenOn(a, "/"));
  t.is(new Set(tokens).size, tokens.length);
  // A refused form (422) is a form page too, with a token of its own.
  const refused = await a.post("/count", { submission: tokens[0]!, start: "5", end: "1", increment: "1" });
  t.is(refused.status, 422);
  t.is(refused.headers.get("cache-control"), "private, no-cache");
  t.regex(await refused.text(), /name="submission" value="[A-Za-z0-9_-]{24}"/);
  // On the file form, the token comes before the file field (the job's id is chosen from it).
  const csvPage = await (await a.get("/jobs/new/csv-check")).text();
  t.true(csvPage.indexOf('name="submission"') < csvPage.indexOf('type="file"'));
});

test("a submit whose answer was lost (Redis held its writes: 503) created its job, and a retry with the key gets that job", async (t) => {
  // A Redis of its own: the pause holds every client's writes.
  const own = await startRedis();
  t.teardown(() => own.close());
  const a = await startApp(t, { redis: own, name: "lost-answer" });
  const key = "lost-answer-key-00000001";
  // Writes held (scripts included), reads answered: the create waits in Redis past the server's deadline.
  await own.client.call("CLIENT", "PAUSE", "60000", "WRITE");
  t.teardown(() => own.client.call("CLIENT", "UNPAUSE").then(() => {}));
  const lost = await within(postJson(a, COUNT, key), 30_000, "the submit's answer");
  t.is(lost.status, 503);
  t.is(lost.headers.get("retry-after"), "5");
  await own.client.call("CLIENT", "UNPAUSE");
  // Redis ran the create once it took writes again: the job exists although the client was told 503.
  const [created] = await waitFor(
    async () => {
      const ids = await allJobs(a);
      return ids.length > 0 ? ids : null;
    },
    { message: "the job the lost submit created" },
  );
  const retry = await postJson(a, COUNT, key);
  t.is(await idOf(retry, 202), created!);
  t.deepEqual(await allJobs(a), [created]);
  t.like(await a.waitForState(created!, "succeeded"), { results: [1, 2, 3] });
});

test("with JOB_QUEUE_MAX=0, a submit whose answer was lost leaves a job that runs (not one that never starts), and a retry with the key gets it", async (t) => {
  const own = await startRedis();
  t.teardown(() => own.close());
  const a = await startApp(t, { redis: own, name: "lost-claimed", env: { JOB_QUEUE_MAX: "0" } });
  const key = "lost-claimed-key-0000001";
  await own.client.call("CLIENT", "PAUSE", "60000", "WRITE");
  t.teardown(() => own.client.call("CLIENT", "UNPAUSE").then(() => {}));
  const lost = await within(postJson(a, COUNT, key), 30_000, "the submit's answer");
  t.is(lost.status, 503);
  await own.client.call("CLIENT", "UNPAUSE");
  // Redis created it claimed by this instance, which started no process: the next pump gives it back to the
  // queue and takes it again. Bound: shorter than its start lease, after which it would end never-started.
  const [created] = await waitFor(
    async () => {
      const ids = await allJobs(a);
      return ids.length > 0 ? ids : null;
    },
    { message: "the job the lost submit created" },
  );
  const done = await a.waitForState(created!, ["succeeded", "failed"], 3 * a.config.jobHeartbeatMs + START_GRACE_MS - 2000);
  t.like(done, { state: "succeeded", results: [1, 2, 3] });
  t.is(await idOf(await postJson(a, COUNT, key), 202), created!);
  t.deepEqual(await allJobs(a), [created]);
});

test("an upload sent again under the same key gives the first job, and the repeat's upload is deleted", async (t) => {
  const a = await app(t, "upload-key", { JOB_CONCURRENCY_CSV_CHECK: "1" });
  const key = "upload-key-0000000000001";
  const parts: [string, string | { file: string }][] = [
    ["delimiter", "detect"],
    ["header", "true"],
    ["file", { file: CSV }],
  ];
  const first = await idOf(await postCsv(a, parts, { "Idempotency-Key": key }), 303);
  const again = await postCsv(a, parts, { "Idempotency-Key": key });
  t.is(await idOf(again, 303), first);
  t.deepEqual(await allJobs(a), [first]);
  // Only the first job's upload may be left (until it ends); the repeat's is gone.
  t.deepEqual(
    (await uploadOwners(a)).filter((id) => id !== first),
    [],
  );
  // The same key with another file is another request.
  const other = await postCsv(
    a,
    [
      ["delimiter", "detect"],
      ["header", "true"],
      ["file", { file: CSV + "Grace,45\n" }],
    ],
    {
      "Idempotency-Key": key,
    },
  );
  t.is(other.status, 422);
  t.deepEqual(
    (await uploadOwners(a)).filter((id) => id !== first),
    [],
  );
});

test("on four partitions, a form's token before its file gives one job twice; a token after the file answers 400 and keeps nothing", async (t) => {
  const a = await app(t, "upload-token", { REDIS_PARTITIONS: "4" });
  const token = await tokenOn(a, "/jobs/new/csv-check");
  const parts: [string, string | { file: string }][] = [
    ["submission", token],
    ["delimiter", "detect"],
    ["header", "true"],
    ["file", { file: CSV }],
  ];
  const first = await idOf(await postCsv(a, parts), 303);
  t.is(await idOf(await postCsv(a, parts), 303), first);
  t.deepEqual(await allJobs(a), [first]);
  t.deepEqual(
    (await uploadOwners(a)).filter((id) => id !== first),
    [],
  );
  t.like(await a.waitForState(first, ["succeeded", "failed"]), { state: "succeeded" });

  const late = await postCsv(a, [
    ["delimiter", "detect"],
    ["header", "true"],
    ["file", { file: CSV }],
    ["submission", await tokenOn(a, "/jobs/new/csv-check")],
  ]);
  t.is(late.status, 400);
  t.regex(await late.text(), /before its files/);
  t.deepEqual(await allJobs(a), [first]);
  t.deepEqual(await uploadOwners(a), []);
});

test("a key's record lives in its job's partition, for IDEMPOTENCY_TTL_S at most; once its job is gone the key is free again", async (t) => {
  const a = await app(t, "record", { REDIS_PARTITIONS: "4", IDEMPOTENCY_TTL_S: "600" });
  const key = "record-key-00000000000001";
  const first = await idOf(await postJson(a, COUNT, key), 202);
  const records = (await keysUnder(redis.client, a.prefix)).filter((k) => k.includes(":once:"));
  t.is(records.length, 1);
  const tag = (k: string) => /\{([^}]+)\}/.exec(k)![1];
  t.is(tag(records[0]!), tag(a.store.jobKeys(first)[0]));
  const ttl = await redis.client.ttl(records[0]!);
  t.true(ttl > 0 && ttl <= 600, `TTL ${ttl}`);

  await a.waitForState(first, "succeeded");
  t.like(await a.store.delete(first), { deleted: true });
  const second = await idOf(await postJson(a, COUNT, key), 202);
  t.not(second, first);
  t.deepEqual(await allJobs(a), [second]);
});

test("with JOB_QUEUE_MAX=0 and the only slot taken by the key's own job, the key gets that job, not a 503", async (t) => {
  const a = await app(t, "queue-zero", { JOB_QUEUE_MAX: "0", JOB_CONCURRENCY_COUNT: "1", COUNT_STEP_DELAY_MS: "200" });
  const key = "queue-zero-key-0000000001";
  const long = { start: 1, end: 1000, increment: 1 };
  const first = await idOf(await postJson(a, long, key), 202);
  t.is(await idOf(await postJson(a, long, key), 202), first);
  // Another request, without a key, still finds no slot.
  t.is((await postJson(a, COUNT)).status, 503);
  t.deepEqual(await allJobs(a), [first]);
});
