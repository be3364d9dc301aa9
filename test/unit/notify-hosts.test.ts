// Where a webhook may go (server/notify/hosts.ts): the allow-list's entries,
// which addresses count as public, and the check made at connect time: a
// listed name that resolves to a loopback address not listed itself is
// refused when the request connects, not only when the URL is submitted.
import http from "node:http";
import type { AddressInfo } from "node:net";
import test from "ava";
import { isPublicAddress, parseHostEntry } from "../../server/notify/hosts.ts";
import { AttemptError, postWebhook, signature } from "../../server/notify/webhook.ts";

test("allow-list entries are a name or an address, with or without a port", (t) => {
  const cases: [string, ReturnType<typeof parseHostEntry>][] = [
    ["hooks.example.com", { host: "hooks.example.com", port: null }],
    ["Hooks.Example.com:8443", { host: "hooks.example.com", port: 8443 }],
    ["10.0.0.5:8080", { host: "10.0.0.5", port: 8080 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    ["[::ffff:127.0.0.1]", { host: "127.0.0.1", port: null }],
    ["hooks.example.com:0", null],
    ["hooks.example.com:70000", null],
    ["hooks example.com", null],
    ["http://hooks.example.com", null],
    ["[not-an-address]", null],
  ];
  for (const [entry, parsed] of cases) t.deepEqual(parseHostEntry(entry), parsed, entry);
});

test("only global unicast addresses are public", (t) => {
  for (const a of ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888"]) t.true(isPublicAddress(a), a);
  for (const a of [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",
    "224.0.0.1",
  ]) {
    t.false(isPublicAddress(a), a);
  }
});

test("a listed name that resolves to an unlisted loopback address is refused when the request connects; listed, the address is used", async (t) => {
  const bodies: { body: string; signature: string | undefined }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      bodies.push({ body, signature: req.headers["x-sidejob-signature"] as string | undefined });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const url = `http://localhost:${port}/hook`;
  const options = { secret: "k".repeat(32), timeoutMs: 5000, userAgent: "test" };

  const refused = await t.throwsAsync(postWebhook(url, "{}", { ...options, hosts: [{ host: "localhost", port }] }), {
    instanceOf: AttemptError,
  });
  t.regex(refused.message, /resolves to .*(127\.0\.0\.1|::1)/);
  t.false(refused.retry, "a refused address is not tried again");
  t.is(bodies.length, 0, "nothing was sent");

  const hosts = [
    { host: "localhost", port },
    { host: "127.0.0.1", port },
  ];
  t.is(await postWebhook(url, '{"a":1}', { ...options, hosts }), 200);
  t.deepEqual(bodies, [{ body: '{"a":1}', signature: signature('{"a":1}', options.secret) }]);
});
