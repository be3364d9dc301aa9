// Writes docs/job.schema.json, the JSON Schema of a job type's job.json
// (manifestSchema() in jobs/core/manifest.ts), formatted as the repository's
// JSON is: `npm run schema` after changing the manifest's declaration. A
// test (test/unit/manifest-schema.test.ts) fails while the file is behind.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as prettier from "prettier";
import { manifestSchema } from "../jobs/core/manifest.ts";

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "docs", "job.schema.json");
const options = await prettier.resolveConfig(file);
fs.writeFileSync(file, await prettier.format(JSON.stringify(manifestSchema()), { ...options, filepath: file }));
console.log(`wrote ${path.relative(process.cwd(), file)}`);
