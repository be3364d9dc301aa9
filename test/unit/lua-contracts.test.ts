// Each Lua script's contract is written three times: its file name
// (<name>-<N>.lua, N the number of KEYS, which the loader passes to ioredis),
// its header (KEYS[i] and ARGV[i] lines), and its typed signature in
// jobs/core/lua/commands.ts (KEYS then ARGV). These tests hold the three
// together: same scripts both ways, same keys in the same order, as many
// fixed ARGV, a rest parameter exactly where the header says ARGV[i..], a
// reply type named after the script, and code that reads no KEYS[i] or ARGV[i]
// beyond what the header states.
import fs from "node:fs";
import test from "ava";
import ts from "typescript";
import { luaFiles } from "../../jobs/core/lua/files.ts";
import { commandName, resolveIncludes, withoutCommentLines } from "../../jobs/core/lua/index.ts";

const COMMANDS_SOURCE = fs.readFileSync(new URL("../../jobs/core/lua/commands.ts", import.meta.url), "utf8");
const SCRIPT_FILE = /^([a-z]+(?:-[a-z]+)*)-(\d+)\.lua$/;

interface Header {
  /** What the first line says the script is: "-- create: …". */
  name: string | null;
  /** The first word of each KEYS[i] line, in order ("index key prefix": index; "job key prefix": jobPrefix). */
  keys: { index: number; name: string }[];
  /** The ARGV[i] lines of one argument each, in order. */
  argv: number[];
  /** Where the header's variable arguments start (ARGV[i..]), if it has any. */
  restFrom: number | null;
  returns: boolean;
}

/**
 * The comment lines a script opens with. Its KEYS and ARGV entries are
 * aligned: the text after "-- KEYS[1]" or "-- ARGV[10]" starts at column 12.
 * A sentence that begins with one ("-- KEYS[4] is the job key prefix") is not
 * an entry.
 */
function parseHeader(text: string): Header {
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("--")) break;
    lines.push(line);
  }
  const header: Header = { name: /^-- ([a-z-]+):/.exec(lines[0] ?? "")?.[1] ?? null, keys: [], argv: [], restFrom: null, returns: false };
  for (const line of lines) {
    const entry = /^-- (KEYS|ARGV)\[([^\]]+)\] */.exec(line);
    if (entry && entry[0].length >= 12) {
      const [, list, index] = entry as unknown as [string, string, string];
      const what = line.slice(entry[0].length).trim();
      if (list === "KEYS") {
        const name = what.startsWith("index key prefix")
          ? "index"
          : what.startsWith("job key prefix")
            ? "jobPrefix"
            : what.split(/\s+/)[0]!;
        header.keys.push({ index: Number(index), name });
      } else if (/^\d+$/.test(index)) {
        header.argv.push(Number(index));
      } else if (header.restFrom === null) {
        // ARGV[9..], ARGV[6 .. 5+F]: the variable arguments.
        header.restFrom = Number(/^\d+/.exec(index)?.[0]);
      }
    }
    if (/^-- Returns:/.test(line)) header.returns = true;
  }
  return header;
}

interface Signature {
  /** The parameter names before the rest parameter. */
  params: string[];
  rest: boolean;
  /** The key of LuaReplies its reply is typed with: `Result<LuaReplies["create"], Context>`. */
  reply: string | null;
}

/** The sj* methods declared on ioredis' RedisCommander, and the keys of LuaReplies. */
function parseCommands(source: string): { signatures: Map<string, Signature>; replies: string[] } {
  const file = ts.createSourceFile("commands.ts", source, ts.ScriptTarget.Latest, true);
  const signatures = new Map<string, Signature>();
  const replies: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === "LuaReplies") {
      for (const member of node.members) if (member.name) replies.push(member.name.getText(file));
    }
    if (ts.isInterfaceDeclaration(node) && node.name.text === "RedisCommander") {
      for (const member of node.members) {
        if (!ts.isMethodSignature(member)) continue;
        const fixed = member.parameters.filter((p) => !p.dotDotDotToken);
        signatures.set(member.name.getText(file), {
          params: fixed.map((p) => p.name.getText(file)),
          rest: member.parameters.some((p) => p.dotDotDotToken),
          reply: /LuaReplies\["([^"]+)"\]/.exec(member.type?.getText(file) ?? "")?.[1] ?? null,
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return { signatures, replies };
}

const consecutive = (numbers: readonly number[]): boolean => numbers.every((n, i) => n === i + 1);
const lowerFirst = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1);

/** Every disagreement between the scripts (by path, as luaFiles gives them) and commands.ts; none when they agree. */
function contractProblems(files: Readonly<Record<string, string>>, commandsSource: string): string[] {
  const problems: string[] = [];
  const { signatures, replies } = parseCommands(commandsSource);
  const scripts = Object.keys(files).filter((f) => !f.includes("/"));
  const named = new Set<string>();
  for (const file of scripts) {
    const match = SCRIPT_FILE.exec(file);
    if (!match) {
      problems.push(`${file}: not named <name>-<number of keys>.lua`);
      continue;
    }
    const [, script, n] = match as unknown as [string, string, string];
    const keyCount = Number(n);
    const command = commandName(script);
    named.add(command);
    const header = parseHeader(files[file]!);
    if (header.name !== script) problems.push(`${file}: its header opens with "-- ${header.name ?? "?"}:", not "-- ${script}:"`);
    if (header.keys.length !== keyCount) problems.push(`${file}: its header lists ${header.keys.length} KEYS, its name says ${keyCount}`);
    if (!consecutive(header.keys.map((k) => k.index)))
      problems.push(`${file}: its KEYS lines are not KEYS[1] to KEYS[${header.keys.length}] in order`);
    if (!consecutive(header.argv)) problems.push(`${file}: its ARGV lines are not ARGV[1] to ARGV[${header.argv.length}] in order`);
    if (header.restFrom !== null && header.restFrom !== header.argv.length + 1) {
      problems.push(`${file}: its variable ARGV start at ${header.restFrom}, not after its ${header.argv.length} fixed ones`);
    }
    if (!header.returns) problems.push(`${file}: its header says nothing of what it "Returns:"`);

    const code = withoutCommentLines(resolveIncludes(file, files));
    const highest = (what: "KEYS" | "ARGV") =>
      Math.max(0, ...[...code.matchAll(new RegExp(`${what}\\[(\\d+)\\]`, "g"))].map((m) => Number(m[1])));
    if (highest("KEYS") > keyCount) problems.push(`${file}: its code reads KEYS[${highest("KEYS")}], beyond its ${keyCount} keys`);
    if (highest("ARGV") > header.argv.length)
      problems.push(`${file}: its code reads ARGV[${highest("ARGV")}], beyond the ${header.argv.length} its header states`);

    const signature = signatures.get(command);
    if (!signature) {
      problems.push(`${file}: commands.ts declares no ${command}`);
      continue;
    }
    const keys = signature.params.slice(0, keyCount);
    const argv = signature.params.slice(keyCount);
    if (keys.length !== keyCount || keys.some((name, i) => name !== header.keys[i]?.name)) {
      problems.push(`${command}: its keys (${keys.join(", ")}) are not the header's KEYS (${header.keys.map((k) => k.name).join(", ")})`);
    }
    if (argv.length !== header.argv.length)
      problems.push(`${command}: takes ${argv.length} fixed ARGV, the header of ${file} states ${header.argv.length}`);
    if (signature.rest !== (header.restFrom !== null)) {
      problems.push(
        `${command}: ${signature.rest ? "has" : "has no"} rest parameter, and the header of ${file} ${header.restFrom !== null ? "has" : "has no"} ARGV[i..]`,
      );
    }
    if (signature.reply !== lowerFirst(command.slice(2))) problems.push(`${command}: its reply is typed LuaReplies["${signature.reply}"]`);
  }
  for (const command of signatures.keys()) {
    if (command.startsWith("sj") && !named.has(command)) problems.push(`commands.ts declares ${command}, which no script file defines`);
  }
  const expectedReplies = [...named].map((c) => lowerFirst(c.slice(2))).sort();
  if (JSON.stringify([...replies].sort()) !== JSON.stringify(expectedReplies)) {
    problems.push(`LuaReplies has ${[...replies].sort().join(", ")}; the scripts are ${expectedReplies.join(", ")}`);
  }
  return problems;
}

test("each script's file name, header and typed signature agree", (t) => {
  const files = luaFiles();
  t.true(Object.keys(files).filter((f) => !f.includes("/")).length >= 18, "the scripts are read");
  t.true(parseCommands(COMMANDS_SOURCE).signatures.size >= 18, "the signatures are read");
  t.deepEqual(contractProblems(files, COMMANDS_SOURCE), []);
});

test("a header, a file name or a signature that drifts is caught", (t) => {
  const files = luaFiles();
  const caught = (changed: Record<string, string>, source = COMMANDS_SOURCE, expected: RegExp) => {
    const problems = contractProblems(changed, source);
    t.true(
      problems.some((p) => expected.test(p)),
      `expected a problem matching ${expected}, got ${JSON.stringify(problems)}`,
    );
  };
  const without = (name: string) => Object.fromEntries(Object.entries(files).filter(([f]) => f !== name));
  const replace = (text: string, from: string | RegExp, to: string) => {
    const out = text.replace(from, to);
    if (out === text) throw new Error(`${String(from)} not found`);
    return out;
  };

  // A file renamed with another key count.
  caught(
    { ...without("start-3.lua"), "start-4.lua": files["start-3.lua"]! },
    COMMANDS_SOURCE,
    /start-4\.lua: its header lists 3 KEYS, its name says 4/,
  );
  // A KEYS line dropped from a header.
  caught(
    { ...files, "finish-6.lua": replace(files["finish-6.lua"]!, /^-- KEYS\[6\].*\n/m, "") },
    COMMANDS_SOURCE,
    /finish-6\.lua: its header lists 5 KEYS/,
  );
  // An ARGV line added to a header.
  caught(
    { ...files, "release-3.lua": replace(files["release-3.lua"]!, "-- Returns:", "-- ARGV[4]  more\n-- Returns:") },
    COMMANDS_SOURCE,
    /sjRelease: takes 3 fixed ARGV, the header of release-3\.lua states 4/,
  );
  // A parameter dropped from a signature, and two keys swapped.
  caught(files, replace(COMMANDS_SOURCE, "host: string,\n      leaseMs: Arg,", "host: string,"), /sjStart: takes 4 fixed ARGV/);
  caught(
    files,
    replace(
      COMMANDS_SOURCE,
      "sjRelease(\n      job: string,\n      leases: string,\n      queue: string,",
      "sjRelease(\n      job: string,\n      queue: string,\n      leases: string,",
    ),
    /sjRelease: its keys/,
  );
  // A rest parameter lost.
  caught(files, replace(COMMANDS_SOURCE, "...lines: string[]", "line: string"), /sjLog: (has no rest parameter|takes 2 fixed ARGV)/);
  // A script with no signature, and a signature with no script.
  caught(
    { ...files, "extra-1.lua": "-- extra: x\n--\n-- KEYS[1]  job      hash\n-- Returns: 1.\nreturn 1\n" },
    COMMANDS_SOURCE,
    /declares no sjExtra/,
  );
  caught(without("retried-1.lua"), COMMANDS_SOURCE, /declares sjRetried, which no script file defines/);
  // Code that reads a key its header does not list.
  caught(
    { ...files, "retried-1.lua": `${files["retried-1.lua"]!}redis.call('DEL', KEYS[2])\n` },
    COMMANDS_SOURCE,
    /retried-1\.lua: its code reads KEYS\[2\]/,
  );
});
