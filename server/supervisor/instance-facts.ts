// What an instance says about itself in its heartbeat (JobStore.heartbeat),
// which /admin lists and other instances read (known-types.ts), and its id.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../paths.ts";

/** How often an instance writes its heartbeat, and how long a heartbeat counts. */
export const HEARTBEAT_INTERVAL_MS = 3000;
export const HEARTBEAT_TTL_MS = 10_000;
/** The version in package.json, as the heartbeat reports it. */
export const VERSION: string = (() => {
  try {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version?: unknown };
    return typeof version === "string" ? version : "unknown";
  } catch {
    return "unknown";
  }
})();

/** What an instance's heartbeat says about it (see JobStore.heartbeat). */
export interface InstanceFacts {
  host: string;
  pid: number;
  version: string;
  startedAt: number;
  slotsUsed: number;
  slotsTotal: number;
  /** Per type: slots used and total. */
  types: Record<string, { used: number; total: number }>;
  /** Every type this instance knows, run here or not: no instance ends a queued job of one of them (end-unknown-6.lua). */
  known: string[];
  /** What this host gives jobs' boxes (jobs/core/host-box.ts), and what it lacks: the types it does not run for want of isolation among them. */
  box?: { gives: string; notes: string[] };
  /** With Slurm types: the deployment's Slurm jobs submitted (as this instance last read them) and at most, and why Slurm's queue could not be read last ("" when it could). */
  slurm?: { submitted: number; max: number; error: string };
}

/** An id for a server instance: host, pid and 8 random hex digits. */
export function newInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString("hex")}`;
}
