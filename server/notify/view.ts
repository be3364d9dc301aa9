// What the operator's page of a job shows of its telling: one row per
// channel asked (an email address, a webhook URL), where its delivery is,
// its attempts, the last status or error, and when.
import type { Delivery, NotifyChannel, NotifyRequest } from "../../jobs/core/store.ts";

export interface NotifyRow {
  channel: NotifyChannel;
  /** The address or URL, as given at submit. */
  to: string;
  /** "Sent", "Failed", "Trying again at …", "Waiting for the job to end"... */
  state: string;
  attempts: number;
  /** The last attempt's status (HTTP, or the SMTP reply code) or error, in a line. */
  last: string;
  at: string | null;
}

/** The rows, in channel order; utc words a time. */
export function notifyRows(
  read: { request: NotifyRequest; deliveries: Partial<Record<NotifyChannel, Delivery>> },
  utc: (ms: number) => string,
): NotifyRow[] {
  const rows: NotifyRow[] = [];
  for (const channel of ["email", "webhook"] as const) {
    const to = channel === "email" ? read.request.email : read.request.webhook;
    if (!to) continue;
    const d = read.deliveries[channel];
    const state = !d
      ? "Waiting for the job to end"
      : d.state === "sent"
        ? "Sent"
        : d.state === "failed"
          ? "Failed"
          : d.state === "retrying"
            ? `Trying again${d.nextAt ? ` at ${utc(d.nextAt)}` : ""}`
            : "Being sent";
    const last = !d ? "" : [d.lastStatus !== null ? String(d.lastStatus) : "", d.lastError ?? ""].filter(Boolean).join(": ");
    rows.push({ channel, to, state, attempts: d?.attempts ?? 0, last, at: d && d.at > 0 ? utc(d.at) : null });
  }
  return rows;
}
