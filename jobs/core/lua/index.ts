// The Lua scripts behind every change to a job, one file each: <name>-<N>.lua,
// where N is how many of its arguments are KEYS (as bullmq names its
// commands). Each runs atomically in Redis, so a transition is checked and
// applied in one step: a job that has finished never changes again, whatever
// a late or stopped process writes. Each file opens with its contract: what
// it does, KEYS, ARGV, what it returns.
//
// Keys are passed in, never built from user input. A script's keys all
// belong to one partition and share its Redis Cluster hash tag
// (jobs/core/partitions.ts), so the scripts that reach a job's keys from an index
// (claim, sweep) stay in one slot; they get the job key prefix as their last
// KEY for that reason. A script may name a key of the same partition from
// one it was given (a job's beat or upload keys; report-1.lua names the
// partition's from the job's, includes/partition.lua), never from user input.
//
// Helpers shared by several scripts live in includes/ and are pulled in with
// a line `--- @include "includes/finish"` (bullmq's form): the path is
// relative to the including file, ".lua" may be left out, an include may
// include others, and each file goes into a script once, in place of the
// first directive that names it (a later one is dropped): a helper is then
// defined above all the code that includes it.
//
// A file becomes the command "sj" + its name in camel case (due-kills-1.lua:
// sjDueKills), which the store defines on its connection
// (jobs/core/store/core.ts); commands.ts declares their types.
//
// A script is run by its SHA1 (EVALSHA), never by its text: the SHA is a
// function of the text, so every process computes it (a job's startup
// snapshot holds it from the build), and the servers load every script into
// Redis at start and after each reconnect (scripts.ts). A Redis that does
// not have it (restarted, failed over, SCRIPT FLUSH) answers NOSCRIPT, and
// that one call is sent again with the text (EVAL), which loads it there.
import crypto from "node:crypto";
import path from "node:path";
import { luaFiles } from "./files.ts";

export interface LuaCommand {
  /** The ioredis command: "sjCreate" for create-5.lua. */
  name: string;
  numberOfKeys: number;
  /** The script with its includes resolved. */
  lua: string;
  /** Its SHA1, in hex: how EVALSHA names it. */
  sha: string;
}

const SCRIPT_FILE = /^([a-z]+(?:-[a-z]+)*)-(\d+)\.lua$/;

export function commandName(script: string): string {
  return `sj${script.replace(/(?:^|-)([a-z])/g, (_, letter: string) => letter.toUpperCase())}`;
}

/** The commands in a folder of .lua files (see luaFiles): one per file at its top; those below are includes. */
export function loadCommands(files: Readonly<Record<string, string>>): LuaCommand[] {
  const commands: LuaCommand[] = [];
  for (const file of Object.keys(files).sort()) {
    if (file.includes("/")) continue;
    const match = SCRIPT_FILE.exec(file);
    if (!match) throw new Error(`jobs/core/lua/${file}: a script is named <name>-<number of keys>.lua`);
    const lua = withoutCommentLines(resolveIncludes(file, files));
    commands.push({
      name: commandName(match[1]!),
      numberOfKeys: Number(match[2]),
      lua,
      sha: crypto.createHash("sha1").update(lua).digest("hex"),
    });
  }
  return commands;
}

/**
 * The script without its lines that hold only a comment, nor blank ones: the
 * contracts are for people, and the text is what SCRIPT LOAD (and an EVAL
 * after NOSCRIPT) sends.
 */
export function withoutCommentLines(lua: string): string {
  return lua
    .split("\n")
    .filter((line) => line.trim() !== "" && !/^\s*--/.test(line))
    .join("\n");
}

/** The file's text with each `--- @include "path"` replaced by that file (once per script). */
export function resolveIncludes(file: string, files: Readonly<Record<string, string>>): string {
  const included = new Set<string>();
  const expand = (current: string, chain: string[]): string => {
    const text = files[current];
    if (text === undefined) throw new Error(`jobs/core/lua/${chain.at(-1)}: no file ${current} to include`);
    return text.replace(/^---[ \t]*@include[ \t]+"([^"]+)"[ \t]*$/gm, (_, target: string) => {
      const dep = path.posix.join(path.posix.dirname(current), target.endsWith(".lua") ? target : `${target}.lua`);
      if (dep === file || chain.includes(dep)) throw new Error(`jobs/core/lua: include cycle ${[...chain, current, dep].join(" -> ")}`);
      if (included.has(dep)) return "";
      included.add(dep);
      return expand(dep, [...chain, current]).trimEnd();
    });
  };
  return expand(file, []);
}

/** Every script, loaded once per process (in a job's startup snapshot: at build time). */
export const LUA_COMMANDS: readonly LuaCommand[] = loadCommands(luaFiles());
