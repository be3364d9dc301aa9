// The settings reference (docs/operations.md, "Settings") and the code agree:
// every setting the code reads is a row of the table, every row is a setting
// the code reads, and each default the code names is the one the row gives.
//
// "Read by the code" is found in the source of server/ and jobs/, wherever a
// setting is declared: a call of one of EnvReader's methods with the name
// (`read.int("PORT", …)`, `r.str("HOST", …)`, `.raw("NAME")`), a call of a
// function that takes an EnvReader with the name among its arguments
// (`readSecret(read, "METRICS_TOKEN", …)`), `process.env.NAME` or
// `env.NAME`, and a name made by pattern (`JOB_CONCURRENCY_${…}`), which the
// table writes as `JOB_CONCURRENCY_<TYPE>`; and the settings each job type
// of the registry declares (its `settings`, read by the same EnvReader).
import fs from "node:fs";
import path from "node:path";
import test from "ava";
import { ROOT } from "../../server/paths.ts";
import { DEFAULTS } from "../../server/config.ts";
import { JOB_TYPES } from "../../jobs/types/index.ts";

/**
 * Read from the environment, but not settings: the system's, passed on as they are to a job's program (docs/job-types.md),
 * and Node's own NODE_OPTIONS, whose heap size `sidejob start` leaves in place (docs/operations.md, Installed as a package).
 */
const NOT_SETTINGS = new Set(["PATH", "LANG", "LC_ALL", "HOME", "NODE_OPTIONS"]);
/** Defaults that depend on the machine: the table says what they follow. */
const MACHINE_DEFAULTS = new Set(["JOB_CONCURRENCY", "JOB_SLOTS"]);

const NAME = String.raw`[A-Z][A-Z0-9_]*`;

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true }).flatMap((entry) => {
    if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.endsWith(".d.ts")) return [];
    const file = path.join(entry.parentPath, entry.name);
    // Whole-line comments name settings too ("JOB_CONCURRENCY_<TYPE>: …"): only code counts.
    const code = fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
      .join("\n");
    return [code];
  });
}

/** Settings the code reads: exact names, and the prefixes of names made by pattern. */
function readByTheCode(): { names: Set<string>; patterns: Set<string> } {
  const code = [...sources("server"), ...sources("jobs")];
  const all = code.join("\n");
  const names = new Set<string>();
  const patterns = new Set<string>();

  // EnvReader's methods that take a setting's name first, wherever the class is.
  const reader = /class EnvReader\b[\s\S]*?\n\}/.exec(all)?.[0];
  if (!reader) throw new Error("class EnvReader not found under server/ or jobs/");
  const methods = [...reader.matchAll(/^\s+(\w+)\(name: string/gm)].map((m) => m[1]!);
  // Functions that take an EnvReader: a setting's name among a call's arguments is read through it.
  const helpers = [
    ...all.matchAll(/function\s+(\w+)\s*\(([^)]*)\)/g),
    ...all.matchAll(/const\s+(\w+)\s*=\s*(?:async\s*)?\(([^)]*)\)\s*(?::[^=]+)?=>/g),
  ]
    .filter((m) => /\bEnvReader\b/.test(m[2]!))
    .map((m) => m[1]!);

  for (const m of all.matchAll(new RegExp(String.raw`\.(?:${methods.join("|")})\(\s*"(${NAME})"`, "g"))) names.add(m[1]!);
  if (helpers.length > 0) {
    for (const call of all.matchAll(new RegExp(String.raw`\b(?:${helpers.join("|")})\(([^()]*)\)`, "g"))) {
      for (const m of call[1]!.matchAll(new RegExp(String.raw`"(${NAME})"`, "g"))) names.add(m[1]!);
    }
  }
  for (const m of all.matchAll(new RegExp(String.raw`\b(?:process\.env|env)(?:\.(${NAME})\b|\[\s*"(${NAME})"\s*\])`, "g"))) {
    names.add((m[1] ?? m[2])!);
  }
  // A name made by pattern, unless it is a key being written (`out[\`SIDEJOB_INPUT_${…}\`] = …`: given to a program, not read).
  for (const m of all.matchAll(new RegExp(String.raw`(\[\s*)?\`(${NAME}_)\$\{[^\`]*\`(\s*\]\s*=(?!=))?`, "g"))) {
    if (!(m[1] && m[3])) patterns.add(m[2]!);
  }
  // What each type declares it reads.
  for (const type of JOB_TYPES) for (const name of Object.keys(type.settings ?? {})) names.add(name);
  for (const name of NOT_SETTINGS) names.delete(name);
  return { names, patterns };
}

interface Row {
  name: string;
  defaultText: string;
}

/** The rows of the table under "## Settings" in docs/operations.md. */
function documented(): Row[] {
  const doc = fs.readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");
  const section = /^## Settings\n([\s\S]*?)(?=^## )/m.exec(doc)?.[1];
  if (!section) throw new Error('docs/operations.md has no "## Settings" section');
  const rows = section
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
  return rows.slice(2).map(([name, defaultText]) => {
    const m = /^`([A-Z][A-Z0-9_<>]*)`$/.exec(name!);
    if (!m) throw new Error(`a row of the settings table names no setting: ${name}`);
    return { name: m[1]!, defaultText: defaultText! };
  });
}

const isPattern = (name: string) => name.includes("<");
const prefixOf = (name: string) => name.slice(0, name.indexOf("<"));

test("the scan finds settings read in each way the code reads them", (t) => {
  const { names, patterns } = readByTheCode();
  for (const name of ["PORT", "HOST", "ALLOWED_HOSTS", "METRICS_TOKEN", "REDIS_SENTINELS", "NODE_ENV"]) t.true(names.has(name), name);
  t.true(patterns.has("JOB_CONCURRENCY_"));
  t.false(patterns.has("SIDEJOB_INPUT_"), "a variable given to a program is not a setting");
});

test("every setting the code reads is in the settings reference of docs/operations.md", (t) => {
  const { names, patterns } = readByTheCode();
  const rows = documented();
  const exact = new Set(rows.filter((r) => !isPattern(r.name)).map((r) => r.name));
  const prefixes = new Set(rows.filter((r) => isPattern(r.name)).map((r) => prefixOf(r.name)));
  t.deepEqual(
    [...names].filter((n) => !exact.has(n)),
    [],
    "read by the code, missing from the table",
  );
  t.deepEqual(
    [...patterns].filter((p) => !prefixes.has(p)).map((p) => `${p}<…>`),
    [],
    "read by pattern, missing from the table",
  );
});

test("every setting in the settings reference is read by the code", (t) => {
  const { names, patterns } = readByTheCode();
  const rows = documented();
  t.deepEqual(
    rows.filter((r) => (isPattern(r.name) ? !patterns.has(prefixOf(r.name)) : !names.has(r.name))).map((r) => r.name),
    [],
    "in the table, read nowhere",
  );
  const seen = new Set<string>();
  t.deepEqual(
    rows.map((r) => r.name).filter((n) => seen.size === seen.add(n).size),
    [],
    "documented twice",
  );
  t.deepEqual(
    rows.map((r) => r.name).filter((n) => NOT_SETTINGS.has(n)),
    [],
  );
});

test("the settings reference gives each default the code declares", (t) => {
  const rows = new Map(documented().map((r) => [r.name, r.defaultText]));
  const declared: [string, unknown][] = [
    ...Object.entries(DEFAULTS),
    ...JOB_TYPES.flatMap((type) => Object.entries(type.settings ?? {}).map(([name, s]) => [name, s.default] as [string, unknown])),
  ];
  for (const [name, value] of declared) {
    if (MACHINE_DEFAULTS.has(name)) continue;
    const cell = rows.get(name);
    t.truthy(cell, `${name} has no row`);
    t.true(cell?.includes(`\`${String(value)}\``), `${name}: the table says ${cell}, the code ${String(value)}`);
  }
});
