// Telling people when a job ends: who asked (an email address, a webhook
// URL), kept on the job's record just after its create (lua/notify-ask-1.lua);
// which instance tells the end, taken once per job (lua/notify-take-2.lua);
// and how each delivery went, per channel, in the job's notify hash
// (lua/notify-outcome-2.lua), which goes with the job. The deliveries
// themselves are the server's (server/notify/).
import type { StoreCore } from "./core.ts";

export const NOTIFY_CHANNELS = ["email", "webhook"] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

/** Who is to be told when a job ends; null where nothing was asked. */
export interface NotifyRequest {
  email: string | null;
  webhook: string | null;
}

/**
 * Where a delivery is: pending (taken, not tried yet), retrying (an attempt
 * failed, another is due at nextAt), sent, or failed (no attempt left, or
 * refused for good).
 */
export type DeliveryState = "pending" | "retrying" | "sent" | "failed";

/** How one delivery went so far, as the notify hash keeps it. */
export interface Delivery {
  state: DeliveryState;
  attempts: number;
  /** The last attempt's HTTP status (a webhook) or SMTP reply code (an email), if it had one. */
  lastStatus: number | null;
  /** What went wrong at the last attempt, in a line; null once sent. */
  lastError: string | null;
  /** When this was recorded (ms). */
  at: number;
  /** When the next attempt is due (ms), while retrying. */
  nextAt: number | null;
}

/** Where an ask left the job: gone (nothing kept), kept, or kept after its end was reported (the caller takes the telling). */
export type AskReply = "gone" | "kept" | "ended";

export async function ask(core: StoreCore, id: string, request: NotifyRequest): Promise<AskReply> {
  const reply = await core.call((r) => r.sjNotifyAsk(core.keys.job(id), request.email ?? "", request.webhook ?? ""));
  return reply === 2 ? "ended" : reply === 1 ? "kept" : "gone";
}

/** The request of an ended job, when telling it is this instance's (taken now, or by its own earlier call); else null. */
export async function take(core: StoreCore, id: string, instanceId: string, now = Date.now()): Promise<NotifyRequest | null> {
  const pending: Delivery = { state: "pending", attempts: 0, lastStatus: null, lastError: null, at: now, nextAt: null };
  const reply = await core.call((r) => r.sjNotifyTake(core.keys.job(id), core.keys.notify(id), instanceId, JSON.stringify(pending)));
  if (reply.length === 0) return null;
  const [email, webhook] = reply;
  return { email: email || null, webhook: webhook || null };
}

/** Records a delivery's progress; false when the job is gone. */
export async function record(core: StoreCore, id: string, channel: NotifyChannel, delivery: Delivery): Promise<boolean> {
  return (await core.call((r) => r.sjNotifyOutcome(core.keys.job(id), core.keys.notify(id), channel, JSON.stringify(delivery)))) === 1;
}

/** What was asked for a job and how each delivery went (for the operators' pages). */
export async function read(
  core: StoreCore,
  id: string,
): Promise<{ request: NotifyRequest; deliveries: Partial<Record<NotifyChannel, Delivery>> }> {
  const [[email, webhook], stored] = await core.call((r) =>
    Promise.all([r.hmget(core.keys.job(id), "notifyEmail", "notifyWebhook"), r.hgetall(core.keys.notify(id))]),
  );
  const deliveries: Partial<Record<NotifyChannel, Delivery>> = {};
  for (const channel of NOTIFY_CHANNELS) {
    const parsed = parseDelivery(stored[channel]);
    if (parsed) deliveries[channel] = parsed;
  }
  return { request: { email: email ?? null, webhook: webhook ?? null }, deliveries };
}

function parseDelivery(text: string | undefined): Delivery | null {
  if (!text) return null;
  try {
    const d = JSON.parse(text) as Partial<Delivery>;
    const n = (v: unknown) => (typeof v === "number" ? v : null);
    return {
      state: (["pending", "retrying", "sent", "failed"] as const).find((s) => s === d.state) ?? "pending",
      attempts: n(d.attempts) ?? 0,
      lastStatus: n(d.lastStatus),
      lastError: typeof d.lastError === "string" ? d.lastError : null,
      at: n(d.at) ?? 0,
      nextAt: n(d.nextAt),
    };
  } catch {
    return null;
  }
}
