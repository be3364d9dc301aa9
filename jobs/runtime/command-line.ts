// How a command job's program is started: its argv, built from the type's
// declaration only (argv[0] on PATH, "./x" in the type's programs' folder,
// "{name}" a parameter's value; never a shell), and its whole environment,
// an allow-list: PATH, LANG and LC_ALL when set, HOME, the settings its type
// declares, and the SIDEJOB_* variables. Nothing of the server's or the runner's.
import path from "node:path";
import type { Params } from "../core/fields.ts";

/** The descriptor of the messages, as the program sees it. */
export const MESSAGE_FD = 3;

/** What the runner reads from its own environment (it reads nothing else there). */
export interface RunnerEnv {
  PATH?: string;
  LANG?: string;
  LC_ALL?: string;
}

/**
 * The program's argv, from the type's declaration and the job's parameters;
 * a file field's "{name}" is the path of its input file (inputs, by field).
 */
export function commandLine(
  command: readonly string[],
  dir: string,
  params: Params | Record<string, unknown>,
  inputs: Readonly<Record<string, string>> = {},
): string[] {
  return command.map((arg) => {
    if (arg.startsWith("./")) return path.join(dir, arg);
    const param = /^\{([a-z][a-z0-9_]*)\}$/.exec(arg)?.[1];
    if (param !== undefined) {
      if (Object.hasOwn(inputs, param)) return inputs[param]!;
      const value = params[param];
      return value === undefined || value === null
        ? ""
        : typeof value === "object"
          ? JSON.stringify(value)
          : `${value as string | number | boolean}`;
    }
    return arg;
  });
}

/** The program's whole environment. */
export function programEnvironment(
  env: RunnerEnv,
  vars: {
    id: string;
    params: unknown;
    home: string;
    outputDir: string;
    inputs: Record<string, string>;
    /** The settings the job's type declares, by name, with their values. */
    settings?: Readonly<Record<string, number>>;
  },
): Record<string, string> {
  const out: Record<string, string> = { PATH: env.PATH || "/usr/local/bin:/usr/bin:/bin" };
  if (env.LANG) out.LANG = env.LANG;
  if (env.LC_ALL) out.LC_ALL = env.LC_ALL;
  out.HOME = vars.home;
  for (const [name, value] of Object.entries(vars.settings ?? {})) out[name] = String(value);
  out.SIDEJOB_JOB_ID = vars.id;
  out.SIDEJOB_PARAMS = JSON.stringify(vars.params);
  out.SIDEJOB_OUTPUT_DIR = vars.outputDir;
  out.SIDEJOB_FD = String(MESSAGE_FD);
  for (const [field, file] of Object.entries(vars.inputs)) out[`SIDEJOB_INPUT_${field.toUpperCase()}`] = file;
  return out;
}
