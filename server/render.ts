// Eta, configured once. Pages go through koa-views (ctx.render); fragments
// that a route returns alone (the status poll) are rendered here directly,
// from the same files the pages include.
import fs from "node:fs";
import path from "node:path";
import { Eta } from "eta";
import views from "koa-views";
import type { Middleware } from "koa";
import { TEMPLATES_DIR } from "./paths.ts";
import type { SiteText } from "./config.ts";

export interface Renderer {
  /** Renders templates/<name>.eta, e.g. "fragments/job-status". */
  render(name: string, data: object): string;
  /** koa-views middleware that adds ctx.render(page, locals) for templates/pages. */
  middleware(): Middleware;
}

/**
 * site: the deployment's name, tagline and footer (SITE_NAME, …), as `site`
 * in every template: a constant of each compiled template, so no page has to
 * pass it down to the layout.
 */
export function createRenderer({
  cache,
  site,
  overrides = null,
}: {
  cache: boolean;
  site: SiteText;
  /** TEMPLATES_DIR: a folder whose files replace the built-in templates of the same name (null: none). */
  overrides?: string | null;
}): Renderer {
  // koa-views' built-in "eta" engine passes absolute paths that Eta 4 resolves
  // against the working directory; rendering by name relative to the views
  // root works wherever the process runs from.
  const eta = new Eta({ views: TEMPLATES_DIR, cache, autoEscape: true, functionHeader: `const site = ${JSON.stringify(site)};` });
  if (overrides) {
    // Names resolve under the built-in folder as always (the same names, the
    // same checks); a file of the same name in the overrides is read instead.
    const builtIn = eta.readFile;
    eta.readFile = function (file: string): string {
      const own = path.join(overrides, path.relative(TEMPLATES_DIR, file));
      return fs.existsSync(own) ? fs.readFileSync(own, "utf8") : builtIn.call(this, file);
    };
  }
  return {
    render: (name, data) => eta.render(name, data),
    middleware: () =>
      views(TEMPLATES_DIR, {
        extension: "eta",
        engineSource: {
          eta: (file: string, locals: object) => Promise.resolve(eta.render(path.relative(TEMPLATES_DIR, file), locals)),
        },
      }),
  };
}
