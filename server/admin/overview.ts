// GET /admin: the overview. Counts by state and type, the queue, the
// instances, lost jobs, and (on the full page) the charts; htmx refreshes
// the fragment every OVERVIEW_REFRESH_S.
import type Router from "@koa/router";
import { JOB_STATES } from "../../jobs/core/store.ts";
import type { JobType } from "../../jobs/core/job-type.ts";
import { formatDuration, formatNumber } from "../../jobs/core/format.ts";
import { STATE_LABELS } from "../job-words.ts";
import { wantsJson } from "../negotiate.ts";
import type { AppDeps } from "../deps.ts";
import { ADMIN_ROUTE, charts, iso, usagePercentiles, usageRows, utc } from "./view.ts";

/** How often the overview refreshes itself (htmx). */
export const OVERVIEW_REFRESH_S = 5;

/** A fact of a heartbeat as text: only strings and numbers are shown. */
const text = (v: unknown) => (typeof v === "string" || typeof v === "number" ? String(v) : "");

/**
 * The types an instance runs, from its heartbeat's slots per type, with each
 * one's slots used: "count 1 of 8, primes 0 of 2"; a type at 0 is not run
 * there. "None" for an instance that runs no job (JOB_SLOTS=0).
 */
function typesRunText(types: unknown): string {
  if (typeof types !== "object" || types === null) return "";
  const run = Object.entries(types as Record<string, { used?: unknown; total?: unknown } | null>).flatMap(([name, s]) =>
    typeof s?.total === "number" && s.total > 0 ? [`${name} ${formatNumber(Number(s.used ?? 0))} of ${formatNumber(s.total)}`] : [],
  );
  return run.length === 0 ? "None" : run.join(", ");
}

/** What an instance's host gives jobs' boxes, and what it lacks (its heartbeat's box). */
function boxText(box: unknown): { box: string; boxNotes: string[] } {
  const b = box as { gives?: unknown; notes?: unknown } | null | undefined;
  return {
    box: typeof b?.gives === "string" ? b.gives : "",
    boxNotes: Array.isArray(b?.notes) ? b.notes.filter((n): n is string => typeof n === "string") : [],
  };
}

/** An instance's view of the deployment's Slurm jobs (its heartbeat's slurm): "2 of 100 submitted", and its queue's error; null without Slurm types. */
function slurmText(slurm: unknown): { text: string; error: string } | null {
  const s = slurm as { submitted?: unknown; max?: unknown; error?: unknown } | null | undefined;
  if (typeof s?.submitted !== "number" || typeof s.max !== "number") return null;
  return {
    text: `${formatNumber(s.submitted)} of ${formatNumber(s.max)} submitted`,
    error: typeof s.error === "string" && s.error ? `squeue failed: ${s.error}` : "",
  };
}

type Overview = Awaited<ReturnType<typeof readOverview>>;

async function readOverview(store: AppDeps["store"], registry: readonly JobType[]) {
  const names = registry.map((t) => t.name);
  const [counts, queueLength, oldest, { now, instances }, submitters] = await Promise.all([
    store.counts(names),
    store.totalQueueLength(),
    store.oldestQueuedAt(names),
    store.instances(),
    store.submitterQueues(SUBMITTERS_SHOWN),
  ]);
  const ended = await store.endedPerMinute(now);
  const byState = Object.fromEntries(JOB_STATES.map((s) => [s, names.reduce((sum, t) => sum + counts[t]![s], 0)]));
  const byType = Object.fromEntries(names.map((t) => [t, JOB_STATES.reduce((sum, s) => sum + counts[t]![s], 0)]));
  return {
    now,
    registry,
    counts,
    byState,
    byType,
    queueLength,
    oldestQueuedAt: oldest,
    oldestQueuedAgeMs: oldest === null ? null : Math.max(0, now - oldest),
    instances: instances.map(({ id, facts }) => ({ id, ...facts })).sort((a, b) => String(a.id).localeCompare(String(b.id))) as ({
      id: string;
    } & Record<string, unknown>)[],
    lostLastHour: ended.reduce((s, e) => s + e.lost, 0),
    ended,
    submitters,
  };
}

/** Submitters the overview lists: the next in turn. */
const SUBMITTERS_SHOWN = 20;

const overviewJson = (o: Overview) => ({
  at: iso(o.now),
  counts: { byState: o.byState, byType: o.byType, byTypeAndState: o.counts },
  queue: {
    length: o.queueLength,
    oldestQueuedAt: iso(o.oldestQueuedAt),
    oldestAgeMs: o.oldestQueuedAgeMs,
    bySubmitter: o.submitters.map((q) => ({ ...q, lastTurnAt: iso(q.lastTurnAt) })),
  },
  instances: o.instances,
  lostLastHour: o.lostLastHour,
  endedPerMinute: o.ended.map((e) => ({
    minute: iso(e.minute),
    succeeded: e.succeeded,
    failed: e.failed,
    cancelled: e.cancelled,
    lost: e.lost,
  })),
});

const overviewView = (o: Overview) => ({
  at: utc(o.now),
  atIso: iso(o.now),
  states: JOB_STATES.map((s) => ({
    state: s,
    label: STATE_LABELS.operator[s],
    count: formatNumber(o.byState[s] ?? 0),
    url: `${ADMIN_ROUTE}/jobs?state=${s}`,
  })),
  types: o.registry.map(({ name: t, title }) => ({
    name: t,
    title,
    count: formatNumber(o.byType[t] ?? 0),
    url: `${ADMIN_ROUTE}/jobs?type=${t}`,
    cells: JOB_STATES.map((s) => ({
      id: `count-${t}-${s}`,
      count: formatNumber(o.counts[t]![s]),
      url: `${ADMIN_ROUTE}/jobs?type=${t}&state=${s}`,
    })),
  })),
  stateLabels: JOB_STATES.map((s) => STATE_LABELS.operator[s]),
  queueLength: formatNumber(o.queueLength),
  oldestAge: o.oldestQueuedAgeMs === null ? null : formatDuration(o.oldestQueuedAgeMs),
  withSlurm: o.instances.some((i) => slurmText(i.slurm) !== null),
  instances: o.instances.map((i) => ({
    host: text(i.host),
    pid: text(i.pid),
    version: text(i.version),
    slots: `${formatNumber(Number(i.slotsUsed ?? 0))} of ${formatNumber(Number(i.slotsTotal ?? 0))}`,
    runs: typesRunText(i.types),
    ...boxText(i.box),
    slurm: slurmText(i.slurm),
    startedAt: typeof i.startedAt === "number" ? utc(i.startedAt) : "",
  })),
  lostLastHour: formatNumber(o.lostLastHour),
  submitters: o.submitters.map((q) => ({
    who: q.who,
    waiting: formatNumber(q.waiting),
    running: formatNumber(q.running),
    lastTurn: q.lastTurnAt === null ? "not yet" : utc(q.lastTurnAt),
  })),
  refreshS: OVERVIEW_REFRESH_S,
});

export function overviewRoutes(router: Router, { store, registry }: AppDeps): void {
  router.get("/", async (ctx) => {
    ctx.vary("HX-Request");
    const o = await readOverview(store, registry);
    const names = o.registry.map((t) => t.name);
    if (wantsJson(ctx)) {
      ctx.body = { ...overviewJson(o), usageLastDay: usagePercentiles(await store.usage(names, o.now)) };
      return;
    }
    const view = overviewView(o);
    if (ctx.get("HX-Request") === "true") {
      ctx.state.kind = "fragment";
      await ctx.render("fragments/admin-overview", { o: view, layout: false });
      return;
    }
    // What each type's jobs used: read from the per-type, per-hour buckets the end of each job adds to
    // (lua/includes/index.lua, index_count), so a day costs 24 small reads per type, however many jobs ended.
    const [durations, queue, usage] = await Promise.all([
      store.durations(names, o.now),
      store.queueSamples(o.now),
      store.usage(names, o.now),
    ]);
    await ctx.render("pages/admin-overview", {
      title: "Operator overview",
      o: view,
      charts: charts({ ended: o.ended, durations, queue }),
      usage: usageRows(usage),
      typeOptions: registry.map((t) => ({ value: t.name, label: t.title })),
    });
  });
}
