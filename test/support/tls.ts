// What the tests that run Redis over TLS and with an ACL user share:
// certificates (a CA, a server certificate it signed for localhost and
// 127.0.0.1, and a second CA that signed nothing: trusting it is trusting the
// wrong one), made with the system's openssl into a folder of the test's own;
// redis-server's TLS arguments; and the ACL docs/operations.md gives.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ExecutionContext } from "ava";
import type { TestApp } from "./app.ts";

/** The ACL docs/operations.md gives for a prefix; the tests' sidejob user has exactly this. */
export const SIDEJOB_ACL = (prefix: string) => [`~${prefix}:*`, "&*", "+@all", "-@dangerous", "+info", "+client|tracking", "+client|id"];

export interface TestCertificates {
  /** The CA that signed the server's certificate. */
  ca: string;
  cert: string;
  key: string;
  /** A CA that signed nothing here. */
  otherCa: string;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

function newCa(dir: string, name: string, subject: string): void {
  openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    subject,
  );
}

/** Writes the certificates into dir (ca.crt, server.crt and .key, other.crt) and returns their paths. */
export function makeCertificates(dir: string): TestCertificates {
  newCa(dir, "ca", "/CN=sidejob test CA");
  openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl(
    dir,
    ...["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt"],
    ...["-days", "2", "-extfile", "san.ext"],
  );
  newCa(dir, "other", "/CN=other CA");
  return {
    ca: path.join(dir, "ca.crt"),
    cert: path.join(dir, "server.crt"),
    key: path.join(dir, "server.key"),
    otherCa: path.join(dir, "other.crt"),
  };
}

/** redis-server's arguments for TLS only (no plain port) on port, with these certificates; clients need none of their own. */
export function redisTlsArgs(certs: TestCertificates, port: number): string[] {
  return [
    ...["--port", "0", "--tls-port", String(port)],
    ...["--tls-cert-file", certs.cert, "--tls-key-file", certs.key, "--tls-ca-cert-file", certs.ca],
    ...["--tls-auth-clients", "no"],
  ];
}

/** A count of 1 to 5 submitted to the app runs in its own process to its end, and its page is served; its id. */
export async function countRuns(t: ExecutionContext, app: TestApp): Promise<string> {
  const id = await app.submit({ start: "1", end: "5", increment: "1" });
  const job = await app.waitForState(id, "succeeded");
  t.deepEqual(job.results, [1, 2, 3, 4, 5]);
  const page = await app.get(`/jobs/${id}`);
  t.is(page.status, 200);
  t.regex(await page.text(), /Status: Finished/);
  return id;
}
