// `npm run redis:stop`: stops the redis-server `npm start` started for this
// checkout (see server/local-redis.ts), after it has written its data.
import fs from "node:fs";
import path from "node:path";

const dir = path.resolve(process.env.LOCAL_REDIS_DIR || "./var/redis");
const pidFile = path.join(dir, "redis.pid");
if (!fs.existsSync(pidFile)) {
  console.log(`no redis-server of this checkout is running (no ${pidFile})`);
  process.exit(0);
}
const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
const alive = () => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
if (!Number.isInteger(pid) || pid <= 0 || !alive()) {
  console.log(`the redis-server of this checkout is not running (stale ${pidFile})`);
  fs.rmSync(pidFile, { force: true });
  process.exit(0);
}
process.kill(pid, "SIGTERM");
const deadline = Date.now() + 10_000;
while (alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
if (alive()) {
  console.error(`redis-server (pid ${pid}) did not stop within 10 s`);
  process.exit(1);
}
console.log(`stopped the redis-server of this checkout (pid ${pid}); its data stays in ${dir}`);
