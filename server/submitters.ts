// Who submitted a job, as the submitters' turns and limits count them
// (jobs/core/lua/includes/turns.lua): the signed-in person (identity.ts),
// else the client's address (behind TRUST_PROXY_HOPS proxies, the one they
// name; an IPv6 client by its /64, as the login's limit counts it). Jobs
// created without a request (an operator's retry) keep their job's.
import type { Context } from "koa";
import { clientAddress } from "./admin/login-throttle.ts";
import { requestAddress } from "./forwarded.ts";
import { userOf } from "./identity.ts";

export function submitterOf(ctx: Context, proxyHops: number): string {
  const user = userOf(ctx);
  return user ? `person ${user.name}` : `address ${clientAddress(requestAddress(ctx, proxyHops))}`;
}
