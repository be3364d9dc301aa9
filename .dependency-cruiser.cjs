// The boundaries of the code, checked by `npm run lint` (see docs/architecture.md, "Code layout").
//   jobs/core     shared by the server and job processes: it imports neither of them
//   jobs/runtime  only job processes load it: never the server
//   jobs/types    the job types: declarations the server reads, job scripts it never loads
//   server        the web server and the supervisor: never the job runtime
// And no import cycles anywhere.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-imports-no-server",
      comment: "jobs/core is shared with job processes: it cannot depend on the server.",
      severity: "error",
      from: { path: "(^|/)jobs/core/" },
      to: { path: "(^|/)server/" },
    },
    {
      name: "core-imports-no-runtime-or-types",
      comment: "jobs/core knows no job process and no job type.",
      severity: "error",
      from: { path: "(^|/)jobs/core/" },
      to: { path: "(^|/)jobs/(runtime|types)/" },
    },
    {
      name: "runtime-imports-no-server",
      comment: "A job process never loads the server's code.",
      severity: "error",
      from: { path: "(^|/)jobs/runtime/" },
      to: { path: "(^|/)server/" },
    },
    {
      name: "types-import-no-server",
      comment: "A job type is a declaration and its script: never the server's code.",
      severity: "error",
      from: { path: "(^|/)jobs/types/" },
      to: { path: "(^|/)server/" },
    },
    {
      name: "server-imports-no-runtime",
      comment: "The server starts job processes; it never loads their code (the job runtime, a type's job script).",
      severity: "error",
      from: { path: "(^|/)server/" },
      to: { path: ["(^|/)jobs/runtime/", "(^|/)jobs/types/.+[.]job[.]ts$"] },
    },
    {
      name: "registry-imports-no-job-script",
      comment: "The registry is what the server reads: its modules never reach a job script or the runtime.",
      severity: "error",
      from: { path: "(^|/)jobs/types/", pathNot: "[.]job[.]ts$" },
      to: { path: ["(^|/)jobs/runtime/", "(^|/)jobs/types/.+[.]job[.]ts$"] },
    },
    {
      name: "no-circular",
      comment: "No import cycles.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".cjs"] },
  },
};
