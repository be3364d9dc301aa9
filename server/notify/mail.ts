// One attempt of an email: a short plain text message through the SMTP
// server SMTP_URL names, from MAIL_FROM, within the attempt's time limit (a
// connection, the greeting, each reply). One connection per message: ends
// are rare next to what a pool would hold open.
import nodemailer from "nodemailer";
import { AttemptError } from "./webhook.ts";

export interface MailOptions {
  smtpUrl: string;
  from: string;
  timeoutMs: number;
}

export class Mailer {
  private readonly transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(private readonly options: MailOptions) {
    const { smtpUrl, timeoutMs } = options;
    this.transport = nodemailer.createTransport({
      url: smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
    });
  }

  /** Sends one message; resolves with the server's reply code, or rejects with an AttemptError. */
  async send(to: string, subject: string, text: string): Promise<number | null> {
    try {
      const info = (await this.transport.sendMail({ from: this.options.from, to, subject, text })) as { response?: string };
      return replyCode(info.response);
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string };
      const code = typeof e.responseCode === "number" ? e.responseCode : null;
      // A 5xx reply is the server's refusal for good (no such mailbox, a sender it does not take); anything else may pass.
      const retry = code === null || code < 500;
      throw new AttemptError(e.code && code === null ? `${e.code}: ${e.message}` : e.message, code, retry);
    }
  }

  close(): void {
    this.transport.close();
  }
}

function replyCode(response: string | undefined): number | null {
  const m = /^(\d{3})\b/.exec(response ?? "");
  return m ? Number(m[1]) : null;
}
