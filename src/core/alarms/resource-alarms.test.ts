import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../platform/clock.js';
import type { ResourceProbe } from '../../platform/resource-probe.js';
import { ResourceAlarms, type AlarmKind } from './resource-alarms.js';

class FakeProbe implements ResourceProbe {
  memory = 100;
  disk = 10_000;
  memoryUsedBytes(): number {
    return this.memory;
  }
  async diskFreeBytes(): Promise<number> {
    return this.disk;
  }
}

const settings = { memoryHighWatermarkBytes: 1_000, diskFreeLimitBytes: 500, checkIntervalMs: 1_000 };
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

test('a memory alarm blocks publishers until memory falls below the watermark', async () => {
  const probe = new FakeProbe();
  const clock = new ManualClock();
  const alarms = new ResourceAlarms(probe, clock, 'data', settings);
  const changes: AlarmKind[][] = [];
  alarms.onChange((active) => changes.push([...active]));
  await alarms.start();
  assert.equal(alarms.blocked(), false);
  probe.memory = 2_000;
  clock.advance(1_000);
  await flush();
  assert.equal(alarms.blocked(), true);
  assert.deepEqual([...alarms.activeAlarms()], ['memory']);
  let released = false;
  void alarms.whenClear().then(() => (released = true));
  await flush();
  assert.equal(released, false, 'publishers wait while the alarm is on');
  probe.memory = 10;
  clock.advance(1_000);
  await flush();
  assert.equal(released, true, 'publishers resume when it clears');
  assert.deepEqual(changes, [['memory'], []]);
  alarms.stop();
});

test('a disk alarm is raised below the free-space limit and both alarms must clear', async () => {
  const probe = new FakeProbe();
  const clock = new ManualClock();
  const alarms = new ResourceAlarms(probe, clock, 'data', settings);
  await alarms.start();
  probe.disk = 100;
  probe.memory = 5_000;
  await alarms.check();
  assert.deepEqual([...alarms.activeAlarms()].sort(), ['disk', 'memory']);
  probe.memory = 1;
  await alarms.check();
  assert.equal(alarms.blocked(), true, 'the disk alarm still blocks');
  probe.disk = 1_000_000;
  await alarms.check();
  assert.equal(alarms.blocked(), false);
  alarms.stop();
});

test('memory mode has no disk alarm', async () => {
  const probe = new FakeProbe();
  probe.disk = 0;
  const alarms = new ResourceAlarms(probe, new ManualClock(), null, settings);
  await alarms.start();
  assert.equal(alarms.blocked(), false);
  alarms.stop();
});
