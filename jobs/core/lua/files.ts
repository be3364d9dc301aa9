// The text of every .lua file in this folder and below it, by its path from
// here with "/" separators: "create-5.lua", "includes/finish.lua".
//
// Only code run from source (tsx: the tests, the bench) reads the files, next
// to this module. scripts/build.mjs replaces this module, in every bundle and
// in the startup snapshot, with one that returns the same texts inlined at
// build time: a bundle runs from build/, away from this folder; a job process
// should not open more files to start; and the snapshot build is CommonJS,
// where import.meta.url does not exist.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export function luaFiles(): Record<string, string> {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    if (name.endsWith(".lua")) files[name.split(path.sep).join("/")] = fs.readFileSync(path.join(dir, name), "utf8");
  }
  return files;
}
