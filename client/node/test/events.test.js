// @ts-check
// WatchEvents end to end: the transitions of a start/stop in order with increasing sequence
// numbers, filters, cancellation, and the daemon's own SHUTDOWN event at the end.
'use strict';
const assert = require('node:assert/strict');
const { after, afterEach, before, it } = require('node:test');
const { connect } = require('../dist/index.js');
const { Daemon, TIMED_OUT, waitUntil, within } = require('./helpers.js');

const daemon = new Daemon({ tcp: false });
/** @type {import('../dist/index.js').SupgrpcClient} */
let c;
/** @type {Set<import('../dist/index.js').Subscription<any>>} */
const opened = new Set();

before(async () => {
  await daemon.start();
  c = connect({ address: daemon.unixAddress, token: daemon.token });
  await waitUntil(async () => (await c.getProcess('grp:w2')).state === 'RUNNING', { what: 'grp:w2 RUNNING' });
});
afterEach(() => {
  for (const sub of opened) sub.cancel();
  opened.clear();
});
after(async () => {
  c?.close();
  await daemon.stop();
});

/** @param {import('../dist/index.js').WatchOptions} [options] */
function watch(options) {
  const sub = c.watchEvents(options);
  opened.add(sub);
  return sub;
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} seconds
 * @param {string} what
 * @returns {Promise<T>}
 */
async function deadline(promise, seconds, what) {
  const value = await within(promise, seconds * 1000);
  if (value === TIMED_OUT) throw new Error(`${what} did not happen within ${seconds}s`);
  return /** @type {T} */ (value);
}

it('a start then a stop: STARTING, RUNNING, STOPPING, STOPPED in order', async () => {
  // Replay from the oldest kept event: nothing can slip between subscribing and acting.
  const sub = watch({ processes: 'sleeper', kinds: ['process_state'], afterSequence: 0 });
  const started = await c.start('sleeper', { wait: true });
  assert.equal(started[0].code, 'OK');
  const pid = (await c.getProcess('sleeper')).pid;
  assert.equal((await c.stop('sleeper'))[0].code, 'OK');
  /** @type {import('../dist/index.js').SupervisorEvent[]} */
  const events = [];
  await deadline(
    (async () => {
      for await (const event of sub) {
        events.push(event);
        if (event.kind === 'process_state' && event.toState === 'STOPPED') break;
      }
    })(),
    10,
    'the STOPPED event',
  );
  const transitions = events.map((e) => (e.kind === 'process_state' ? `${e.namespec} ${e.fromState}->${e.toState}` : e.kind));
  assert.deepEqual(transitions, [
    'sleeper STOPPED->STARTING',
    'sleeper STARTING->RUNNING',
    'sleeper RUNNING->STOPPING',
    'sleeper STOPPING->STOPPED',
  ]);
  for (let i = 1; i < events.length; i += 1) assert.ok(events[i].sequence > events[i - 1].sequence);
  const running = events[1];
  assert.ok(running.kind === 'process_state' && running.pid === pid && running.time instanceof Date);
  assert.ok(sub.cancelled, 'break did not cancel the stream');
});

it('live events (no replay) arrive as they happen; cancel() ends the stream cleanly', async () => {
  const sub = watch({ processes: ['grp:*'], kinds: ['process_state'] });
  /** @type {string[]} */
  const seen = [];
  const reader = (async () => {
    for await (const event of sub) {
      assert.equal(event.kind, 'process_state');
      if (event.kind === 'process_state') seen.push(`${event.namespec} ${event.toState}`);
      if (seen.includes('grp:w1 RUNNING')) sub.cancel();
    }
  })();
  // The subscription may reach the server after a first restart: restart until seen.
  await waitUntil(
    async () => {
      if (!sub.cancelled) await c.restart('grp:w1');
      return sub.cancelled;
    },
    { timeout: 15, interval: 200, what: 'a live grp:w1 RUNNING event' },
  );
  await deadline(reader, 5, 'the end of the cancelled stream');
  assert.ok(seen.every((s) => s.startsWith('grp:w1 ')), `unexpected events: ${seen}`);
});

it('filters: processes and kinds', async () => {
  const groups = await deadline(watch({ afterSequence: 0, kinds: ['group_added'] }).take(4), 10, 'group_added events');
  assert.deepEqual(groups.map((e) => (e.kind === 'group_added' ? e.group : e.kind)).sort(), ['cat', 'counter', 'grp', 'sleeper']);
  const grp = await deadline(watch({ afterSequence: 0, processes: 'grp:*', kinds: ['process_state'] }).take(4), 10, 'grp events');
  assert.deepEqual(
    grp.map((e) => (e.kind === 'process_state' ? `${e.namespec} ${e.toState}` : e.kind)).sort(),
    ['grp:w1 RUNNING', 'grp:w1 STARTING', 'grp:w2 RUNNING', 'grp:w2 STARTING'],
  );
});

it('event style: shutdown() sends the daemon SHUTDOWN event', async () => {
  // Replay from the oldest event, so the stream is known to be open on the daemon (its first
  // event has arrived) before shutdown() is sent: a stream that only reaches the daemon once
  // it is stopping is ended at once, which is not what this test is about.
  const sub = watch({ kinds: ['daemon_state', 'process_state'], afterSequence: 0 });
  /** @type {import('../dist/index.js').SupervisorEvent[]} */
  const events = [];
  /** @type {() => void} */
  let opened = () => {};
  const open = new Promise((resolve) => {
    opened = () => resolve(true);
  });
  const got = new Promise((resolve) => {
    sub.on('data', (event) => {
      events.push(event);
      opened();
      if (event.kind === 'daemon_state' && event.state === 'SHUTDOWN') resolve(true);
    });
  });
  sub.on('error', () => {}); // the daemon going away may end the stream with an error
  await deadline(open, 10, 'the first replayed event');
  await c.shutdown();
  await deadline(got, 10, 'the SHUTDOWN event');
  const last = events.filter((e) => e.kind === 'daemon_state').pop();
  assert.ok(last && last.kind === 'daemon_state' && last.state === 'SHUTDOWN');
  await waitUntil(() => daemon.exited, { timeout: 15, what: 'supgrpcd to exit' });
});
