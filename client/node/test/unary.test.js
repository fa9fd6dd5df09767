// @ts-check
// Unary calls end to end against a real supgrpcd, over its unix socket and over TCP (the token
// is required on both): state, processes, start/stop/restart with wait, signals, stdin and
// logs, health, and the status codes of failures.
'use strict';
const assert = require('node:assert/strict');
const os = require('node:os');
const { after, before, describe, it } = require('node:test');
const { connect, Status, SupgrpcError } = require('../dist/index.js');
const { Daemon, waitUntil } = require('./helpers.js');

const BASE = ['cat', 'counter', 'grp:w1', 'grp:w2', 'sleeper'];

/**
 * Expect `promise` to reject with a SupgrpcError of `code`.
 * @param {Promise<unknown>} promise
 * @param {number} code
 * @returns {Promise<import('../dist/index.js').SupgrpcError>}
 */
async function rejectsWith(promise, code) {
  let error;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof SupgrpcError, `expected a SupgrpcError, got ${error}`);
  assert.equal(error.code, code, `expected status ${code}, got ${error.status}: ${error.details}`);
  return error;
}

const daemon = new Daemon();
before(() => daemon.start());
after(() => daemon.stop());

for (const transport of ['unix', 'tcp']) {
  describe(`over ${transport}`, () => {
    /** @type {import('../dist/index.js').SupgrpcClient} */
    let c;
    before(() => {
      const address = transport === 'unix' ? daemon.unixAddress : daemon.tcpAddress;
      c = connect({ address, token: daemon.token });
    });
    after(() => c.close());

    /** @param {string} name */
    const state = async (name) => (await c.getProcess(name)).state;

    it('getState describes the daemon', async () => {
      const s = await c.getState();
      assert.equal(s.state, 'RUNNING');
      assert.match(s.version, /\d/);
      assert.equal(s.pid, daemon.proc?.pid);
      assert.equal(s.identifier, 'supervisor');
      assert.equal(s.configFile, daemon.conf);
      assert.ok(s.startTime instanceof Date && Math.abs(s.startTime.getTime() - Date.now()) < 600_000);
    });

    it('listProcesses lists, sorted, and filters by glob; getProcess finds one', async () => {
      await waitUntil(async () => (await state('grp:w2')) === 'RUNNING', { what: 'grp:w2 RUNNING' });
      const names = (await c.listProcesses()).map((p) => p.namespec);
      assert.deepEqual(names, BASE);
      assert.deepEqual((await c.listProcesses('grp:*')).map((p) => p.namespec), ['grp:w1', 'grp:w2']);
      assert.deepEqual((await c.listProcesses(['cat', 'sleeper'])).map((p) => p.namespec), ['cat', 'sleeper']);
      const w1 = await c.getProcess('w1');
      assert.deepEqual([w1.name, w1.group, w1.namespec, w1.state], ['w1', 'grp', 'grp:w1', 'RUNNING']);
      assert.ok(w1.pid > 0 && w1.description.startsWith(`pid ${w1.pid}, uptime `));
      assert.ok(w1.startTime instanceof Date);
      assert.ok(w1.stdoutLogfile.startsWith(daemon.dir));
      assert.equal(w1.health, 'NONE');
      assert.ok(w1.resources.rssBytes > 0);
    });

    it('start/stop/restart with wait report one result per process', async () => {
      const started = await c.start('sleeper', { wait: true, timeoutSeconds: 10 });
      assert.deepEqual(started.map((r) => [r.process, r.code, r.ok]), [['sleeper', 'OK', true]]);
      const running = await c.getProcess('sleeper');
      assert.equal(running.state, 'RUNNING');
      // Starting what runs is a per-process result, not a failed call.
      const again = await c.start('sleeper');
      assert.equal(again[0].code, 'ALREADY_STARTED');
      assert.equal(again[0].ok, false);
      const restarted = await c.restart('sleeper', { timeoutSeconds: 10 });
      assert.equal(restarted[0].code, 'OK');
      assert.notEqual((await c.getProcess('sleeper')).pid, running.pid);
      const stopped = await c.stop('sleeper', { wait: true });
      assert.equal(stopped[0].code, 'OK');
      const info = await c.getProcess('sleeper');
      assert.equal(info.state, 'STOPPED');
      assert.equal(info.pid, 0);
      assert.ok(info.stopTime instanceof Date);
      assert.equal(info.exitStatus?.signal, os.constants.signals.SIGTERM);
      assert.equal(info.exitStatus?.code, null);
      assert.equal((await c.stop('sleeper'))[0].code, 'NOT_RUNNING');
    });

    it('start without wait returns at once; the state follows', async () => {
      const results = await c.start('sleeper', { wait: false });
      assert.equal(results[0].code, 'OK');
      await waitUntil(async () => (await state('sleeper')) === 'RUNNING', { what: 'sleeper RUNNING' });
      await c.stop('sleeper');
    });

    it('group targets act on every member', async () => {
      const stopped = await c.stop('grp:*', { timeoutSeconds: 10 });
      assert.deepEqual(stopped.map((r) => r.code), ['OK', 'OK']);
      assert.deepEqual(new Set(stopped.map((r) => r.process)), new Set(['grp:w1', 'grp:w2']));
      const started = await c.start('grp:*');
      assert.deepEqual(started.map((r) => r.code), ['OK', 'OK']);
      assert.deepEqual(await Promise.all(['grp:w1', 'grp:w2'].map(state)), ['RUNNING', 'RUNNING']);
    });

    it('signal: by name and number; a stopped process is NOT_RUNNING; a bad signal is INVALID_ARGUMENT', async () => {
      await c.start('sleeper');
      const before = await c.getProcess('sleeper');
      assert.equal((await c.signal('sleeper', 'CONT'))[0].code, 'OK');
      assert.equal((await c.signal('sleeper', os.constants.signals.SIGCONT))[0].code, 'OK');
      assert.equal((await c.signal('sleeper', 'SIGCONT'))[0].code, 'OK');
      const after = await c.getProcess('sleeper');
      assert.deepEqual([after.state, after.pid], ['RUNNING', before.pid]);
      const err = await rejectsWith(c.signal('sleeper', 'BOGUS'), Status.INVALID_ARGUMENT);
      assert.equal(err.status, 'INVALID_ARGUMENT');
      await c.stop('sleeper');
      assert.equal((await c.signal('sleeper', 'HUP'))[0].code, 'NOT_RUNNING');
    });

    it('writeStdin reaches the process; readLog reads its log file', async () => {
      const marker = `hello-${transport}-${process.pid}`;
      await c.writeStdin('cat', `${marker}\n`);
      const read = await waitUntil(async () => {
        const r = await c.readLog('cat', { offset: -4096 });
        return r.data.toString().includes(marker) && r;
      }, { what: 'the marker in cat\'s log' });
      assert.ok(read.fileSize >= marker.length + 1);
      const daemonLog = await c.readLog(null, { offset: 0, length: 0 });
      assert.ok(daemonLog.data.length > 0);
    });

    it('health: the init and one program', async () => {
      assert.equal(await c.health(), 'SERVING');
      assert.equal(await c.health('program:counter'), 'SERVING');
      assert.equal(await c.health('program:sleeper'), 'NOT_SERVING');
      await rejectsWith(c.health('program:nope'), Status.NOT_FOUND);
    });

    it('reread reports no change for an unchanged config', async () => {
      assert.deepEqual(await c.reread(), { added: [], changed: [], removed: [] });
    });

    it('errors carry the status code and supervisor\'s fault name', async () => {
      const notFound = await rejectsWith(c.getProcess('nope'), Status.NOT_FOUND);
      assert.equal(notFound.status, 'NOT_FOUND');
      assert.equal(notFound.fault, 'BAD_NAME');
      assert.match(notFound.details, /nope/);
      assert.match(notFound.message, /^NOT_FOUND: /);
      await rejectsWith(c.start('nope'), Status.NOT_FOUND);
      await rejectsWith(c.stop('nogroup:*'), Status.NOT_FOUND);
      await rejectsWith(c.signal('nope', 'HUP'), Status.NOT_FOUND);
      const notRunning = await rejectsWith(c.writeStdin('sleeper', 'x'), Status.FAILED_PRECONDITION);
      assert.equal(notRunning.fault, 'NOT_RUNNING');
      await rejectsWith(c.removeGroup('grp'), Status.FAILED_PRECONDITION); // still running
      await rejectsWith(c.getProcess(''), Status.INVALID_ARGUMENT);
      await rejectsWith(c.readLog('cat', { offset: -10, length: 5 }), Status.INVALID_ARGUMENT);
    });
  });
}
