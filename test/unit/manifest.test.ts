// Job types from folders (JOB_TYPES_DIR): a job.json becomes a type, and a
// folder that cannot (bad JSON, a typo, a placeholder that names no field, a
// program that is not there) stops the start with one line per problem,
// naming the file.
import test from "ava";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadTypeFolders, manifestProblems } from "../../jobs/core/manifest.ts";
import { programProblems } from "../../jobs/core/programs.ts";
import { checkFields, jsonSchema } from "../../jobs/core/fields.ts";
import { ConfigError, loadConfig, typesRunHere } from "../../server/config.ts";

const VALID = {
  name: "line-stats",
  title: "Line statistics",
  description: "Counts the lines of a file.",
  fields: [
    { name: "file", kind: "file", label: "Text file", accept: [".txt"] },
    { name: "top", kind: "integer", label: "Top", min: 1, max: 100, default: 10 },
  ],
  run: { command: ["sh", "./tool.sh", "{file}", "{top}"] },
  unit: ["line", "lines"],
  concurrency: 2,
  jobTitle: "Line stats of {file}, top {top}",
};

/** A folder of type folders, each written from files by name; the folder's path. */
function typesDir(t: { teardown(fn: () => void): void }, types: Record<string, Record<string, string | object>>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sidejob-types-"));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const [folder, files] of Object.entries(types)) {
    fs.mkdirSync(path.join(root, folder));
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(root, folder, name);
      fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
      if (name.endsWith(".sh")) fs.chmodSync(file, 0o755);
    }
  }
  return root;
}

test("a folder's job.json becomes a type: its fields, command, limits, and a title made from the parameters", (t) => {
  const dir = typesDir(t, { "line-stats": { "job.json": VALID, "tool.sh": "#!/bin/sh\n" } });
  const { types, problems } = loadTypeFolders([dir]);
  t.deepEqual(problems, []);
  const [type] = types;
  t.is(type!.name, "line-stats");
  t.is(type!.dir, path.join(dir, "line-stats"));
  t.is(type!.submitLabel, "Start");
  t.is(type!.concurrency, 2);
  t.deepEqual(type!.run, { command: ["sh", "./tool.sh", "{file}", "{top}"] });
  t.is(type!.jobTitle({ file: { name: "notes.txt", size: 12 }, top: 5 }), "Line stats of notes.txt, top 5");
  t.deepEqual(programProblems(types, process.env.PATH), []);
});

test("each problem of a job.json is one line naming the file, the place and what is wrong", (t) => {
  const dir = typesDir(t, {
    "bad-json": { "job.json": '{ "name": "x", }' },
    typo: { "job.json": { ...VALID, name: "typo", titel: "Oops" } },
    kinds: {
      "job.json": {
        ...VALID,
        name: "kinds",
        fields: [{ name: "n", kind: "float", label: "N" }, { name: "m", kind: "integer", label: "M", min: 5, max: 1 }, { kind: "text" }],
        run: { command: ["sh", "{nope}"] },
        jobTitle: "Stats of {missing}",
      },
    },
    "no-manifest": { "README.txt": "nothing here" },
  });
  const { types, problems } = loadTypeFolders([dir, path.join(dir, "no-such-folder")]);
  t.deepEqual(types, []);
  const file = (folder: string) => path.join(dir, folder, "job.json");
  t.true(problems.some((p) => p.startsWith(`${file("bad-json")}: not valid JSON`)));
  t.true(problems.includes(`${file("typo")}: titel: there is no such key (a typo?)`));
  t.true(problems.includes(`${file("kinds")}: fields[0].kind: must be one of integer, number, text, choice, boolean, file`));
  t.true(problems.includes(`${file("kinds")}: fields[2].name: is required`));
  t.true(problems.includes(`${file("kinds")}: fields[2].label: is required`));
  t.true(problems.includes(`${file("kinds")}: fields[2].maxLength: is required`));
  t.true(problems.includes(`${file("no-manifest")}: no such file`));
  t.true(problems.includes(`${path.join(dir, "no-such-folder")}: no such folder`));
  // Once the shape is right, what the fields and templates say is checked.
  const { problems: named } = loadTypeFolders([
    typesDir(t, {
      kinds: {
        "job.json": {
          ...VALID,
          name: "kinds",
          fields: [{ name: "m", kind: "integer", label: "M", min: 5, max: 1 }],
          run: { command: ["sh", "{nope}"] },
          jobTitle: "Stats of {missing}",
        },
      },
    }),
  ]);
  t.true(named.some((p) => p.endsWith("job.json: fields[0].max: is below min")));
  t.true(named.some((p) => p.endsWith("job.json: jobTitle: {missing} is not a field (the fields are m)")));
  t.deepEqual(manifestProblems([]), ["(the whole file): must be a JSON object"]);
});

test("a manifest may not take the name of a built-in type or of another folder's type", (t) => {
  const one = typesDir(t, { a: { "job.json": { ...VALID, name: "count" } }, b: { "job.json": VALID, "tool.sh": "" } });
  const two = typesDir(t, { c: { "job.json": VALID, "tool.sh": "" } });
  const { types, problems } = loadTypeFolders([one, two], ["count"]);
  t.deepEqual(
    types.map((x) => x.name),
    ["line-stats"],
  );
  t.deepEqual(problems, [
    `${path.join(one, "a", "job.json")}: name: "count" is already the name of a built-in type`,
    `${path.join(two, "c", "job.json")}: name: "line-stats" is already the name of ${path.join(one, "b", "job.json")}`,
  ]);
});

test("a program that cannot start is named: an interpreter not on PATH, a ./ file missing or not executable", (t) => {
  const dir = typesDir(t, {
    "no-interpreter": {
      "job.json": { ...VALID, name: "no-interpreter", run: { command: ["sidejob-no-such-interpreter", "./tool.R"] } },
      "tool.R": "",
    },
    "no-script": { "job.json": { ...VALID, name: "no-script", run: { command: ["sh", "./missing.sh"] } } },
    "not-executable": { "job.json": { ...VALID, name: "not-executable", run: { command: ["./tool.py"] } }, "tool.py": "" },
  });
  const { types, problems } = loadTypeFolders([dir]);
  t.deepEqual(problems, []);
  const found = programProblems(types, "/usr/bin:/bin");
  t.deepEqual(found, [
    `${path.join(dir, "no-interpreter", "job.json")}: run.command[0]: "sidejob-no-such-interpreter" is not on PATH (/usr/bin:/bin); install it or correct the command`,
    `${path.join(dir, "no-script", "job.json")}: run.command[1]: ${path.join(dir, "no-script", "missing.sh")} does not exist`,
    `${path.join(dir, "not-executable", "job.json")}: run.command[0]: ${path.join(dir, "not-executable", "tool.py")} is not executable (chmod +x it)`,
  ]);
});

test("the settings refuse to start on an invalid folder or a missing program, but a web-only instance needs no programs", (t) => {
  const bad = typesDir(t, { typo: { "job.json": { ...VALID, titel: "x" } } });
  const error = t.throws(() => loadConfig({ JOB_TYPES_DIR: bad, PATH: process.env.PATH }), { instanceOf: ConfigError });
  t.deepEqual(error.problems, [`JOB_TYPES_DIR: ${path.join(bad, "typo", "job.json")}: titel: there is no such key (a typo?)`]);

  const missing = typesDir(t, { r: { "job.json": { ...VALID, run: { command: ["sidejob-no-such-rscript", "./tool.R"] } }, "tool.R": "" } });
  const refused = t.throws(() => loadConfig({ JOB_TYPES_DIR: missing, PATH: process.env.PATH }), { instanceOf: ConfigError });
  t.regex(refused.problems.join("\n"), /r\/job\.json: run\.command\[0\]: "sidejob-no-such-rscript" is not on PATH/);

  // Not run here: with no slots (a web-only instance), or with its concurrency at 0, or not offered.
  for (const env of [{ JOB_SLOTS: "0" }, { JOB_CONCURRENCY_LINE_STATS: "0" }, { JOB_TYPES: "count" }]) {
    const config = loadConfig({ JOB_TYPES_DIR: missing, PATH: process.env.PATH, ...env });
    t.true(
      config.types.some((x) => x.name === "line-stats"),
      "the type is known",
    );
    t.false(typesRunHere(config).some((x) => x.name === "line-stats"));
  }
});

test("an API submit may leave out a field that has a default; a blank form field is still refused", (t) => {
  const { fields } = VALID as unknown as { fields: Parameters<typeof checkFields>[0] };
  const json = checkFields(fields, { file: { name: "a.txt", size: 3 } });
  t.deepEqual(json, { ok: true, params: { file: { name: "a.txt", size: 3 }, top: 10 } });
  const blank = checkFields(fields, { file: { name: "a.txt", size: 3 }, top: "" });
  t.false(blank.ok);
  const schema = jsonSchema(fields) as { required: string[]; properties: Record<string, { default?: unknown }> };
  t.deepEqual(schema.required, ["file"]);
  t.is(schema.properties.top!.default, 10);
});

test("with JOB_PROGRAM_CHECK=skip-type, a type whose program is missing is not run here, and the start goes on saying why", (t) => {
  const missing = typesDir(t, { r: { "job.json": { ...VALID, run: { command: ["sidejob-no-such-rscript", "./tool.R"] } }, "tool.R": "" } });
  const config = loadConfig({ JOB_TYPES_DIR: missing, PATH: process.env.PATH, JOB_PROGRAM_CHECK: "skip-type" });
  t.true(
    config.types.some((x) => x.name === "line-stats"),
    "still known (its form, its queued jobs' pages)",
  );
  t.false(typesRunHere(config).some((x) => x.name === "line-stats"));
  t.is(config.jobConcurrencyByType["line-stats"], 0);
  t.is(config.skippedTypes.length, 1);
  t.regex(config.skippedTypes[0]!.problems.join("\n"), /"sidejob-no-such-rscript" is not on PATH/);
  t.throws(() => loadConfig({ JOB_PROGRAM_CHECK: "ignore" }), { message: /JOB_PROGRAM_CHECK="ignore": expected refuse or skip-type/ });
});
