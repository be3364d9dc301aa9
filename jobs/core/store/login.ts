// The operator's login and sessions, shared by every instance: the failed
// logins per client address and in all (login-reserve-2.lua), and the
// sessions, each a random id kept with the sessions' version at its login
// and a tag of the configured password (never the password or its hash:
// the server's keyed tag). A session is valid while its key lives, its
// version is the current one and its tag matches: logging out deletes the
// key, "log out everywhere" moves the version on, a new password changes
// the tag.
import type { StoreCore } from "./core.ts";

export interface LoginLimits {
  windowMs: number;
  perAddress: number;
  everyAddress: number;
}

/** Counts an attempt as failed before it is checked; returns 0, or the ms until one may be made. */
export async function reserveLogin(core: StoreCore, address: string, attempt: string, limits: LoginLimits): Promise<number> {
  const { keys } = core;
  const key = keys.loginFailures(address);
  return core.call((r) => r.sjLoginReserve(key, keys.loginFailuresAll(), attempt, limits.windowMs, limits.perAddress, limits.everyAddress));
}

/** A correct password: the address's failures are forgotten and the attempt no longer counts in all. */
export async function loginSucceeded(core: StoreCore, address: string, attempt: string): Promise<void> {
  const { keys } = core;
  await core.call((r) => Promise.all([r.del(keys.loginFailures(address)), r.zrem(keys.loginFailuresAll(), attempt)]));
}

export async function startSession(core: StoreCore, id: string, tag: string, ttlMs: number): Promise<void> {
  const { keys } = core;
  const version = (await core.call((r) => r.get(keys.adminSessionVersion()))) ?? "0";
  await core.call((r) => r.set(keys.adminSession(id), `${version}:${tag}`, "PX", ttlMs));
}

export async function isSession(core: StoreCore, id: string, tag: string): Promise<boolean> {
  const { keys } = core;
  const [value, version] = await core.call((r) => r.mget(keys.adminSession(id), keys.adminSessionVersion()));
  return value != null && value === `${version ?? "0"}:${tag}`;
}

export async function endSession(core: StoreCore, id: string): Promise<void> {
  await core.call((r) => r.del(core.keys.adminSession(id)));
}

/** Ends every session: the version moves on, so no session made before is valid. */
export async function endEverySession(core: StoreCore): Promise<void> {
  await core.call((r) => r.incr(core.keys.adminSessionVersion()));
}
