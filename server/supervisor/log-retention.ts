// Deleting old job logs. A log is only shown as a failed job's detail, and
// that record is gone after JOB_TTL_FAILED_S, so a log lives as long as the
// longest-kept job record. Logs of running processes are never touched.
import fs from "node:fs";
import type { Config } from "../config.ts";

/** How often old job logs are deleted. */
export const LOG_SWEEP_INTERVAL_MS = 10 * 60_000;

export interface LogRetentionOptions {
  config: Pick<Config, "jobLogDir" | "jobTtlSucceededS" | "jobTtlFailedS">;
  isRunning: (id: string) => boolean;
  log: (message: string) => void;
}

export class LogRetention {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: LogRetentionOptions) {}

  /** Deletes old logs now and every LOG_SWEEP_INTERVAL_MS. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.deleteOld(), LOG_SWEEP_INTERVAL_MS);
    this.timer.unref();
    void this.deleteOld();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Deletes job logs last written more than the longest retention ago; returns how many. */
  async deleteOld(now = Date.now()): Promise<number> {
    const { config, isRunning, log } = this.options;
    const keepMs = Math.max(config.jobTtlSucceededS, config.jobTtlFailedS) * 1000;
    let deleted = 0;
    try {
      for (const name of await fs.promises.readdir(config.jobLogDir)) {
        if (!/^[0-9a-f]{32}\.log$/.test(name) || isRunning(name.slice(0, 32))) continue;
        const file = `${config.jobLogDir}/${name}`;
        const { mtimeMs } = await fs.promises.stat(file);
        if (now - mtimeMs > keepMs) {
          await fs.promises.rm(file, { force: true });
          deleted++;
        }
      }
    } catch (err) {
      log(`could not clean job logs: ${(err as Error).message}`);
    }
    return deleted;
  }
}
