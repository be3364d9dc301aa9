// A submit's request to be told when its job ends: the form's optional
// notify_email field (offered only with SMTP_URL), and an API client's
// webhookUrl (in JSON, or a field of a form with a file; taken only with
// WEBHOOK_ALLOWED_HOSTS). Neither is one of the
// type's fields: they are taken out of the body before the type's check, and
// checked here, each problem under its own name as a field's would be. A
// refused request refuses the submit (422), before anything is written.
import { NOTIFY_EMAIL_FIELD } from "../../jobs/core/job-type.ts";
import type { NotifyRequest } from "../../jobs/core/store.ts";
import { checkWebhookUrl } from "./hosts.ts";
import { channelsOn, type NotifySettings } from "./settings.ts";

export { NOTIFY_EMAIL_FIELD };
/** A JSON submit's webhook URL. */
export const WEBHOOK_FIELD = "webhookUrl";

/** An address a person can be mailed at: no spaces nor angle brackets, one @, a domain of at least two labels. */
const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i;
export const EMAIL_MAX = 254;

/**
 * The address told when a job ends: the one the submit gave (the form's
 * field; left empty, none), else, when it sent no such field (a JSON
 * submit, or the empty form being filled in), the signed-in person's
 * (ctx.state.user?.email), else none. The one place the address is chosen.
 */
export function notifyEmailOf(given: string | undefined, signedInEmail?: string | null): string | null {
  if (given !== undefined) return given.trim() || null;
  return signedInEmail?.trim() || null;
}

/** The body without the notify fields, and what they held. */
export function takeNotifyFields(body: Record<string, unknown>): { rest: Record<string, unknown>; email: unknown; webhook: unknown } {
  const { [NOTIFY_EMAIL_FIELD]: email, [WEBHOOK_FIELD]: webhook, ...rest } = body;
  return { rest, email, webhook };
}

export type NotifyCheck = { ok: true; request: NotifyRequest | null } | { ok: false; errors: Record<string, string> };

/**
 * Checks what a submit asked: the email field (or the signed-in person's
 * address), the webhook URL (its form, its host on the allow-list, the
 * addresses its name resolves to). null when nothing was asked.
 */
export async function checkNotify(
  sent: { email: unknown; webhook: unknown },
  settings: NotifySettings,
  signedInEmail?: string | null,
): Promise<NotifyCheck> {
  const on = channelsOn(settings);
  const errors: Record<string, string> = {};
  let email: string | null = null;
  let webhook: string | null = null;
  if (sent.email !== undefined && sent.email !== null && typeof sent.email !== "string") {
    errors[NOTIFY_EMAIL_FIELD] = "Send the email address as text.";
  } else {
    const given = typeof sent.email === "string" ? sent.email : undefined;
    // A signed-in person's own address is used only where mail is sent; one given is refused there.
    email = on.email ? notifyEmailOf(given, signedInEmail) : notifyEmailOf(given);
    if (email !== null && !on.email) {
      errors[NOTIFY_EMAIL_FIELD] = "This server sends no email (it has no SMTP_URL): leave the email address out.";
    } else if (email !== null && (email.length > EMAIL_MAX || !EMAIL.test(email))) {
      errors[NOTIFY_EMAIL_FIELD] = "Enter an email address, such as name@example.com, or leave it empty.";
    }
  }
  if (sent.webhook !== undefined && sent.webhook !== null && sent.webhook !== "") {
    if (typeof sent.webhook !== "string") {
      errors[WEBHOOK_FIELD] = "Send the webhook URL as text.";
    } else if (!on.webhook) {
      errors[WEBHOOK_FIELD] = "This server sends no webhooks (it has no WEBHOOK_ALLOWED_HOSTS): leave webhookUrl out.";
    } else {
      const problem = await checkWebhookUrl(sent.webhook, settings.webhookHosts);
      if (problem) errors[WEBHOOK_FIELD] = `${problem} Nothing was created.`;
      else webhook = sent.webhook;
    }
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, request: email || webhook ? { email, webhook } : null };
}
