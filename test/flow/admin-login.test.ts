// The operator's login limit and sessions, shared through Redis: attempts
// counted before their check, IPv6 counted by /64, a budget for every
// address together, two instances sharing the count, and sessions that
// logging out (here or everywhere) ends.
import crypto from "node:crypto";
import test from "ava";
import { hashPassword } from "../../server/admin/auth.ts";
import { clientAddress, LOGIN_FAILURES_MAX, LoginThrottle } from "../../server/admin/login-throttle.ts";
import { startApp, uniquePrefix, type TestApp } from "../support/app.ts";
import { useRedis } from "../support/redis.ts";

const redis = useRedis(test);
const PASSWORD = "correct horse battery";
const SECRET = "s".repeat(40);
const ADMIN_ENV = { ADMIN_PASSWORD: PASSWORD, SESSION_SECRET: SECRET };

function cookieOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
}

async function login(a: TestApp): Promise<string> {
  const res = await a.post("/admin/login", { password: PASSWORD, next: "/admin" });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  return cookieOf(res);
}

const asJson = (cookie: string) => ({ Cookie: cookie, Accept: "application/json" });

test.serial(
  `200 wrong logins sent at once from one address check at most ${LOGIN_FAILURES_MAX} passwords; the rest answer 429`,
  async (t) => {
    // An scrypt hash: each check takes a while, so the 200 overlap as an attacker's would.
    const a = await startApp(t, {
      redis,
      name: "login-burst",
      env: { ADMIN_PASSWORD_HASH: hashPassword(PASSWORD, { N: 16384 }), SESSION_SECRET: SECRET },
      takesJobs: false,
    });
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => a.post("/admin/login", { password: `wrong ${i}` })));
    const statuses = answers.map((r) => r.status);
    // A 401 is an answer after a check; a 429 is refused before one.
    t.is(statuses.filter((s) => s === 401).length, LOGIN_FAILURES_MAX);
    t.is(statuses.filter((s) => s === 429).length, 200 - LOGIN_FAILURES_MAX);
    const limited = answers.find((r) => r.status === 429)!;
    const wait = Number(limited.headers.get("retry-after"));
    t.true(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
    await Promise.all(answers.map((r) => r.arrayBuffer()));
  },
);

test.serial("two instances on one Redis share the count of failed logins", async (t) => {
  const prefix = uniquePrefix("login-shared");
  const a = await startApp(t, { redis, name: "login-a", prefix, env: ADMIN_ENV, takesJobs: false });
  const b = await startApp(t, { redis, name: "login-b", prefix, env: ADMIN_ENV, takesJobs: false });
  const half = LOGIN_FAILURES_MAX / 2;
  for (let i = 0; i < half; i++) t.is((await a.post("/admin/login", { password: `wrong a${i}` })).status, 401);
  for (let i = 0; i < half; i++) t.is((await b.post("/admin/login", { password: `wrong b${i}` })).status, 401);
  t.is((await a.post("/admin/login", { password: PASSWORD })).status, 429, "the first instance counts the second's failures");
  t.is((await b.post("/admin/login", { password: PASSWORD })).status, 429);
});

test("an IPv6 client is counted by its /64, an IPv4 one by its address", (t) => {
  t.is(clientAddress("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  t.is(clientAddress("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  t.is(clientAddress("2001:db8::1"), "2001:db8:0:0::/64");
  t.is(clientAddress("::1"), "0:0:0:0::/64");
  t.is(clientAddress("fe80::1%eth0"), "fe80:0:0:0::/64");
  t.is(clientAddress("::ffff:192.0.2.7"), "192.0.2.7");
  t.is(clientAddress("192.0.2.7"), "192.0.2.7");
  t.is(clientAddress("not an address"), "unknown");
});

test.serial("addresses of one IPv6 /64 share one count of failed logins; another /64 has its own", async (t) => {
  const a = await startApp(t, { redis, name: "login-v6", env: ADMIN_ENV, takesJobs: false });
  const throttle = new LoginThrottle(a.store);
  for (let i = 0; i < LOGIN_FAILURES_MAX; i++) t.true((await throttle.reserve(`2001:db8:7:7:${(i + 1).toString(16)}::${i}`)).ok);
  const same = await throttle.reserve("2001:db8:7:7:ffff:ffff:ffff:fffe");
  t.false(same.ok, "a new address in the same /64 is refused");
  t.true((await throttle.reserve("2001:db8:7:8::1")).ok, "the next /64 is not");
});

test.serial("every address together has a budget of failed logins", async (t) => {
  const a = await startApp(t, { redis, name: "login-all", env: ADMIN_ENV, takesJobs: false });
  const throttle = new LoginThrottle(a.store, { windowMs: 60_000, perAddress: 10, everyAddress: 5 });
  for (let i = 1; i <= 5; i++) t.true((await throttle.reserve(`192.0.2.${i}`)).ok);
  const refused = await throttle.reserve("198.51.100.1");
  t.false(refused.ok, "a sixth address is refused once the budget is spent");
  if (!refused.ok) t.true(refused.retryAfterS >= 1 && refused.retryAfterS <= 60);
});

test.serial("a logged-out cookie answers 401 to JSON and sends a browser to the login, on every instance", async (t) => {
  const prefix = uniquePrefix("login-out");
  const a = await startApp(t, { redis, name: "login-out-a", prefix, env: ADMIN_ENV, takesJobs: false });
  const b = await startApp(t, { redis, name: "login-out-b", prefix, env: ADMIN_ENV, takesJobs: false });
  const cookie = await login(a);
  t.is((await b.get("/admin", asJson(cookie))).status, 200, "a session opens every instance");
  t.is((await a.post("/admin/logout", "", { Cookie: cookie })).status, 303);
  // The browser kept the cookie (stolen, or a tab that never saw the logout).
  t.is((await a.get("/admin", asJson(cookie))).status, 401);
  t.is((await b.get("/admin", asJson(cookie))).status, 401);
  const page = await b.get("/admin/jobs", { Cookie: cookie });
  t.is(page.status, 303);
  t.is(page.headers.get("location"), "/admin/login?next=%2Fadmin%2Fjobs");
});

test.serial("log out everywhere ends every session, and a new login works after it", async (t) => {
  const a = await startApp(t, { redis, name: "login-everywhere", env: ADMIN_ENV, takesJobs: false });
  const first = await login(a);
  const second = await login(a);
  t.is((await a.post("/admin/logout-everywhere", "", { Cookie: "" })).status, 401, "not without a session");
  t.is((await a.get("/admin", asJson(first))).status, 200);
  const res = await a.post("/admin/logout-everywhere", "", { Cookie: first });
  t.is(res.status, 303);
  t.is(res.headers.get("location"), "/admin/login");
  t.is((await a.get("/admin", asJson(first))).status, 401);
  t.is((await a.get("/admin", asJson(second))).status, 401, "the other browser's session ended too");
  const third = await login(a);
  t.is((await a.get("/admin", asJson(third))).status, 200);
  t.regex(
    await (await a.get("/admin", { Cookie: third })).text(),
    /<button type="submit" class="link-button">Log out everywhere<\/button>/,
  );
});

test.serial("the session cookie holds a random id and its expiry, nothing made from the password", async (t) => {
  const a = await startApp(t, { redis, name: "login-cookie", env: ADMIN_ENV, takesJobs: false });
  const values = [await login(a), await login(a)].map((c) => /sidejob_admin=([^;]+)/.exec(c)![1]!);
  for (const value of values) t.regex(value, /^\d+\.[A-Za-z0-9_-]{32}$/);
  t.not(values[0]!.split(".")[1], values[1]!.split(".")[1], "each login gets its own id");
  const derived = [
    crypto.createHash("sha256").update(`sidejob-admin-session\0${PASSWORD}`).digest(),
    crypto.createHash("sha256").update(PASSWORD).digest(),
  ].flatMap((d) => [d.subarray(0, 12).toString("base64url"), d.toString("base64url"), d.toString("hex")]);
  for (const value of values) for (const d of derived) t.false(value.includes(d.slice(0, 12)));
});

test.serial(
  "behind one proxy (TRUST_PROXY_HOPS=1) each client's address is counted apart; without it, X-Forwarded-For is not believed",
  async (t) => {
    const behind = await startApp(t, { redis, name: "login-proxy", env: { ...ADMIN_ENV, TRUST_PROXY_HOPS: "1" }, takesJobs: false });
    // What the proxy appends is the client's address; what a client writes before it is its own word.
    const from = (client: string, forged = "") => ({ "X-Forwarded-For": forged ? `${forged}, ${client}` : client });
    for (let i = 0; i < LOGIN_FAILURES_MAX; i++) {
      t.is((await behind.post("/admin/login", { password: `wrong ${i}` }, from("203.0.113.5", `198.51.100.${i}`))).status, 401);
    }
    t.is(
      (await behind.post("/admin/login", { password: PASSWORD }, from("203.0.113.5", "198.51.100.99"))).status,
      429,
      "a forged entry changes nothing",
    );
    t.is(
      (await behind.post("/admin/login", { password: PASSWORD, next: "/admin" }, from("203.0.113.6"))).status,
      303,
      "another client logs in",
    );

    const direct = await startApp(t, { redis, name: "login-direct", env: ADMIN_ENV, takesJobs: false });
    for (let i = 0; i < LOGIN_FAILURES_MAX; i++) {
      t.is((await direct.post("/admin/login", { password: `wrong ${i}` }, from(`198.51.100.${i}`))).status, 401);
    }
    t.is(
      (await direct.post("/admin/login", { password: PASSWORD }, from("198.51.100.200"))).status,
      429,
      "the socket's address is counted",
    );
  },
);
