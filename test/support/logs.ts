// A logger whose lines a test reads back: each line as pino wrote it, parsed.
import { createLogger, type Logger } from "../../server/log.ts";

export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** pino's numbers for its levels. */
export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

export function memoryLogger(level: "info" | "debug" = "info"): { logger: Logger; records: LogRecord[]; messages: () => string[] } {
  const records: LogRecord[] = [];
  const logger = createLogger(
    { logLevel: level, logFormat: "json" },
    {
      write(line: string) {
        records.push(JSON.parse(line) as LogRecord);
      },
    },
  );
  return { logger, records, messages: () => records.map((r) => r.msg) };
}

/** The JSON lines of a server's output (its other lines, if any, left out). */
export function jsonLines(output: string): LogRecord[] {
  return output.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      return [JSON.parse(line) as LogRecord];
    } catch {
      return [];
    }
  });
}
