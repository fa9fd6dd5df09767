// @ts-check
// TailLog end to end: follow with cancellation (numbered lines in order, no duplicates, no
// gaps), iteration and event styles, AbortSignal, non-follow reads, absolute offsets,
// multiplexing, streaming slots (RESOURCE_EXHAUSTED, freed by cancel) and NOT_FOUND.
'use strict';
const assert = require('node:assert/strict');
const { after, afterEach, before, it } = require('node:test');
const { connect, splitLines, Status, SupgrpcError } = require('../dist/index.js');
const { Daemon, TIMED_OUT, waitUntil, within } = require('./helpers.js');

const daemon = new Daemon({ tcp: false });
/** @type {import('../dist/index.js').SupgrpcClient} */
let c;
before(async () => {
  await daemon.start();
  c = connect({ address: daemon.unixAddress, token: daemon.token });
  await waitUntil(async () => (await c.getProcess('counter')).state === 'RUNNING', { what: 'counter RUNNING' });
});
after(async () => {
  c?.close();
  await daemon.stop();
});

// Every stream a test opens is cancelled after it, whatever happened (a stream left open
// would hold one of the daemon's 8 streaming slots).
/** @type {Set<import('../dist/index.js').Subscription<any>>} */
const opened = new Set();
afterEach(() => {
  for (const sub of opened) sub.cancel();
  opened.clear();
});

/**
 * followLogs, remembered for afterEach.
 * @param {Parameters<typeof c.followLogs>} args
 */
function follow(...args) {
  const sub = c.followLogs(...args);
  opened.add(sub);
  return sub;
}

/**
 * Resolve `promise` within `seconds`, or fail the test.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} seconds
 * @param {string} what
 * @returns {Promise<T>}
 */
async function deadline(promise, seconds, what) {
  const value = await within(promise, seconds * 1000);
  if (value === TIMED_OUT) throw new Error(`${what} did not finish within ${seconds}s`);
  return /** @type {T} */ (value);
}

/** "line N" lines -> [N...], checking the format. @param {string[]} lines */
function numbers(lines) {
  return lines.map((line) => {
    const m = /^line (\d+)$/.exec(line);
    assert.ok(m, `unexpected line ${JSON.stringify(line)}`);
    return Number(m[1]);
  });
}

/** @param {number[]} ns */
function assertConsecutive(ns) {
  assert.ok(ns.length > 0);
  assert.deepEqual(ns, ns.map((_, i) => ns[0] + i), 'numbered lines out of order, duplicated or missing');
}

it('follow: chunks are contiguous, lines numbered in order without duplicates; cancel ends the loop cleanly', async () => {
  const sub = follow('counter', { fromLastLines: 3 });
  let text = '';
  let expectedOffset = -1;
  let afterCancel = 0;
  await deadline(
    (async () => {
      for await (const chunk of sub) {
        if (sub.cancelled) afterCancel += 1;
        assert.equal(chunk.process, 'counter');
        assert.equal(chunk.stream, 'stdout');
        assert.equal(chunk.gap, 0, `unexpected gap of ${chunk.gap} bytes`);
        if (expectedOffset >= 0) assert.equal(chunk.offset, expectedOffset);
        expectedOffset = chunk.offset + chunk.data.length;
        text += chunk.data.toString();
        if (text.split('\n').length > 20) sub.cancel(); // keep looping: the loop must end by itself
      }
    })(),
    10,
    'the followed stream after cancel()',
  );
  assert.equal(afterCancel, 0, 'values were delivered after cancel()');
  assert.ok(sub.cancelled && sub.closed);
  await deadline(sub.finished(), 2, 'finished()');
  // tail_lines=3 starts at a line boundary; the last line may be partial.
  const lines = text.split('\n').slice(0, -1);
  assert.ok(lines.length >= 20);
  assertConsecutive(numbers(lines));
});

it('splitLines gives whole lines; breaking out of the loop cancels the stream', async () => {
  const sub = follow(['counter'], { fromLastBytes: 0 });
  /** @type {string[]} */
  const lines = [];
  await deadline(
    (async () => {
      for await (const l of splitLines(sub)) {
        assert.equal(l.gap, 0);
        lines.push(l.line);
        if (lines.length === 8) break;
      }
    })(),
    10,
    'eight lines',
  );
  assert.ok(sub.cancelled, 'break did not cancel the stream');
  // Starting at the end (0 bytes back) may begin mid-line: drop the first.
  assertConsecutive(numbers(lines.slice(1)));
});

it('event style: data events, then cancel() emits end and never error', async () => {
  const sub = follow('counter', { fromLastLines: 1 });
  /** @type {unknown[]} */
  const errors = [];
  let chunks = 0;
  sub.on('error', (err) => errors.push(err));
  const ended = new Promise((resolve) => sub.once('end', () => resolve(true)));
  sub.on('data', (chunk) => {
    assert.ok(Buffer.isBuffer(chunk.data));
    chunks += 1;
    if (chunks === 3) sub.cancel();
  });
  await deadline(ended, 10, "the 'end' event");
  assert.equal(chunks, 3);
  assert.deepEqual(errors, []);
  assert.throws(() => sub[Symbol.asyncIterator](), /already consumed/);
});

it('an AbortSignal cancels the stream', async () => {
  const controller = new AbortController();
  const sub = follow('counter', { signal: controller.signal });
  let chunks = 0;
  await deadline(
    (async () => {
      for await (const _chunk of sub) {
        chunks += 1;
        if (chunks === 2) controller.abort();
      }
    })(),
    10,
    'the aborted stream',
  );
  assert.equal(chunks, 2);
  assert.ok(sub.cancelled);
});

it('without follow the stream ends by itself once caught up', async () => {
  const chunks = await deadline(
    (async () => {
      const out = [];
      for await (const chunk of follow('counter', { follow: false, fromLastBytes: 200 })) out.push(chunk);
      return out;
    })(),
    10,
    'a non-follow read',
  );
  const total = chunks.reduce((n, ch) => n + ch.data.length, 0);
  assert.ok(total > 0 && total <= 200, `read ${total} bytes`);
});

it('an absolute offset starts exactly there', async () => {
  const [first] = await follow('counter', { fromLastLines: 2 }).take(1);
  const [again] = await follow('counter', { offset: first.offset, follow: false }).take(1);
  assert.equal(again.offset, first.offset);
  const n = Math.min(first.data.length, again.data.length);
  assert.deepEqual(again.data.subarray(0, n), first.data.subarray(0, n));
});

it('several processes in one stream, each chunk tagged with its process', async () => {
  const marker = `marker-${process.pid}`;
  await c.writeStdin('cat', `${marker}\n`);
  await waitUntil(async () => (await c.readLog('cat')).data.toString().includes(marker), { what: 'the marker in the log' });
  const sub = follow(['counter', 'cat'], { fromLastLines: 1 });
  /** @type {Set<string>} */
  const seen = new Set();
  let catText = '';
  await deadline(
    (async () => {
      for await (const chunk of sub) {
        seen.add(chunk.process);
        if (chunk.process === 'cat') catText += chunk.data.toString();
        if (seen.has('counter') && seen.has('cat')) break;
      }
    })(),
    10,
    'output of both processes',
  );
  assert.deepEqual([...seen].sort(), ['cat', 'counter']);
  assert.equal(catText, `${marker}\n`);
});

it('following an unknown process is NOT_FOUND, in both styles', async () => {
  const sub = follow('nope');
  await assert.rejects(
    async () => {
      for await (const _ of sub) assert.fail('no data expected');
    },
    (err) => err instanceof SupgrpcError && err.code === Status.NOT_FOUND && err.fault === 'BAD_NAME',
  );
  await assert.rejects(sub.finished(), (err) => err instanceof SupgrpcError && err.code === Status.NOT_FOUND);
  const evented = follow(['nope']);
  const err = await deadline(
    new Promise((resolve) => {
      evented.on('error', resolve);
      evented.on('data', () => assert.fail('no data expected'));
    }),
    10,
    "the 'error' event",
  );
  assert.ok(err instanceof SupgrpcError);
  assert.equal(err.code, Status.NOT_FOUND);
});

it('many streams at once: followers hold no server thread; cancelled streams end', async () => {
  /** Open a follower and wait for its first chunk. */
  const open = () =>
    waitUntil(
      async () => {
        const sub = follow('counter', { fromLastLines: 1 });
        const first = await sub[Symbol.asyncIterator]().next();
        assert.equal(first.done, false);
        return sub;
      },
      { timeout: 10, interval: 100, what: 'a follower' },
    );
  /** @type {import('../dist/index.js').Subscription<any>[]} */
  const subs = [];
  try {
    // Twice the old limit of 8 streaming slots (the server ran one thread per stream).
    for (let i = 0; i < 16; i += 1) subs.push(await open());
  } finally {
    for (const sub of subs) sub.cancel();
  }
  for (const sub of subs) assert.ok(sub.closed);
  const again = await open();
  again.cancel();
});
