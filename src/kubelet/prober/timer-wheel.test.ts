import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../../util/index.js";
import { TimerWheel } from "./timer-wheel.js";

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

test("TimerWheel runs callbacks in time order, rounded up to its tick, never early", async () => {
  const clock = new FakeClock(0);
  const errors: unknown[] = [];
  const wheel = new TimerWheel(clock, 100, (err) => errors.push(err));
  const ac = new AbortController();
  const running = wheel.run(ac.signal);
  const fired: string[] = [];
  wheel.schedule(250, () => fired.push("b@250"));
  wheel.schedule(100, () => fired.push("a@100"));
  const cancelled = wheel.schedule(200, () => fired.push("cancelled"));
  cancelled.cancel();
  wheel.schedule(300, () => {
    fired.push("c@300");
    throw new Error("callback failed");
  });
  await flush();
  await clock.advance(99);
  await flush();
  assert.deepEqual(fired, []);
  await clock.advance(1);
  await flush();
  assert.deepEqual(fired, ["a@100"]);
  await clock.advance(150);
  await flush();
  // 250 is due at the 300 tick.
  assert.deepEqual(fired, ["a@100"]);
  await clock.advance(50);
  await flush();
  assert.deepEqual(fired, ["a@100", "b@250", "c@300"]);
  assert.equal(errors.length, 1);
  ac.abort();
  await running;
});

test("TimerWheel idles without timers and wakes for a new entry; a time already past runs without waiting a tick", async () => {
  const clock = new FakeClock(0);
  const wheel = new TimerWheel(clock, 100, () => undefined);
  const ac = new AbortController();
  const running = wheel.run(ac.signal);
  await flush();
  assert.equal(clock.pendingSleepers, 0);
  await clock.advance(10_000);
  const fired: number[] = [];
  wheel.schedule(5_000, () => fired.push(clock.now()));
  await flush();
  assert.deepEqual(fired, [10_000]);
  // Aborting ends run at once, even while a tick's sleep is pending.
  wheel.schedule(20_000, () => fired.push(-1));
  await flush();
  ac.abort();
  await running;
  assert.deepEqual(fired, [10_000]);
});
