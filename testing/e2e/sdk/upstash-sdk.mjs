// Drives Upstash's official TypeScript SDK (@upstash/redis) against redis-rest, with the SDK's
// defaults (base64 response encoding, automatic JSON deserialization). Run by
// testing/e2e/tests/upstash_sdk.rs with UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN and KEY_PREFIX
// set; exits non-zero with a message on the first mismatch.
import { Redis } from "@upstash/redis";
import assert from "node:assert/strict";

const redis = new Redis({
  url: process.env.UPSTASH_REDIS_REST_URL,
  token: process.env.UPSTASH_REDIS_REST_TOKEN,
  enableTelemetry: false,
});
const p = process.env.KEY_PREFIX ?? "sdk";
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

check("set and get, strings and JSON", async () => {
  assert.equal(await redis.set(`${p}:s`, "héllo wörld"), "OK");
  assert.equal(await redis.get(`${p}:s`), "héllo wörld");
  await redis.set(`${p}:obj`, { text: "hi", n: 3 });
  assert.deepEqual(await redis.get(`${p}:obj`), { text: "hi", n: 3 });
  assert.equal(await redis.get(`${p}:missing`), null);
  assert.equal(await redis.incr(`${p}:n`), 1);
});

check("sorted sets: zadd, zrange byScore/rev/offset+count, zremrangebyrank", async () => {
  const key = `${p}:z`;
  const added = await redis.zadd(
    key,
    { score: 1, member: "m1" },
    { score: 2, member: "m2" },
    { score: 3, member: "m3" },
    { score: 4, member: "m4" },
    { score: 5, member: "m5" },
  );
  assert.equal(added, 5);
  assert.deepEqual(await redis.zrange(key, 0, -1), ["m1", "m2", "m3", "m4", "m5"]);
  assert.deepEqual(await redis.zrange(key, 2, 4, { byScore: true }), ["m2", "m3", "m4"]);
  assert.deepEqual(
    await redis.zrange(key, "+inf", "-inf", { byScore: true, rev: true, offset: 1, count: 2 }),
    ["m4", "m3"],
  );
  assert.deepEqual(
    await redis.zrange(key, "(5", "-inf", { byScore: true, rev: true, offset: 0, count: 10 }),
    ["m4", "m3", "m2", "m1"],
  );
  assert.deepEqual(await redis.zrange(key, 0, -1, { withScores: true }), [
    "m1", 1, "m2", 2, "m3", 3, "m4", 4, "m5", 5,
  ]);
  assert.equal(await redis.zremrangebyrank(key, 0, -3), 3);
  assert.deepEqual(await redis.zrange(key, 0, -1), ["m4", "m5"]);
  assert.equal(await redis.zcard(key), 2);
});

check("pipeline(): results in order", async () => {
  const pipe = redis.pipeline();
  pipe.set(`${p}:pa`, "a");
  pipe.get(`${p}:pa`);
  pipe.zadd(`${p}:pz`, { score: 1, member: "x" });
  pipe.zrange(`${p}:pz`, 0, -1);
  assert.deepEqual(await pipe.exec(), ["OK", "a", 1, ["x"]]);
});

check("multi(): a transaction", async () => {
  const tx = redis.multi();
  tx.set(`${p}:ta`, 10);
  tx.incrby(`${p}:ta`, 5);
  tx.get(`${p}:ta`);
  assert.deepEqual(await tx.exec(), ["OK", 15, 15]);
});

// Upstash sends a status nested in an array base64-encoded ("T0s="), and the SDK decodes every
// string item of an array; a verbatim "OK" there would decode to "8" and then parse as 8.
check("eval: a status inside an array reads OK", async () => {
  const script = "return {redis.call('SET',KEYS[1],'v')}";
  assert.deepEqual(await redis.eval(script, [`${p}:ev`], []), ["OK"]);
  assert.equal(await redis.get(`${p}:ev`), "v");
});

check("errors surface as exceptions with Redis's message", async () => {
  await redis.set(`${p}:e`, "v");
  await assert.rejects(redis.zadd(`${p}:e`, { score: 1, member: "x" }), /WRONGTYPE/);
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok: ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAILED: ${name}\n${err?.stack ?? err}`);
  }
}
console.log(`sdk: ${checks.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
