// @ts-check
// examples/status.js against a real supgrpcd: it prints the status table, follows a program's
// log, and exits 0 on SIGINT; a wrong token exits 1 with the status name.
'use strict';
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { after, before, it } = require('node:test');
const { Daemon, TIMED_OUT, within } = require('./helpers.js');

const EXAMPLE = path.join(__dirname, '..', 'examples', 'status.js');
const daemon = new Daemon({ tcp: false });
/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
before(() => daemon.start());
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await daemon.stop();
});

/** @param {string[]} args @param {Record<string, string>} env */
function run(args, env) {
  const child = spawn(process.execPath, [EXAMPLE, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const result = { stdout: '', stderr: '', child, exit: /** @type {Promise<number | null>} */ (new Promise((resolve) => child.once('exit', (code) => resolve(code)))) };
  child.stdout.on('data', (d) => (result.stdout += d));
  child.stderr.on('data', (d) => (result.stderr += d));
  return result;
}

it('prints the status, follows a log, exits 0 on Ctrl-C', async () => {
  const r = run([daemon.unixAddress, 'counter', '--lines', '2'], { SUPGRPC_TOKEN: daemon.token });
  const deadline = Date.now() + 15_000;
  while ((r.stdout.match(/^counter \| line \d+$/gm) ?? []).length < 5) {
    assert.ok(Date.now() < deadline, `no log lines in time; stdout: ${r.stdout} stderr: ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  r.child.kill('SIGINT');
  const code = await within(r.exit, 10_000);
  assert.notEqual(code, TIMED_OUT, 'the example did not stop on SIGINT');
  assert.equal(code, 0, r.stderr);
  assert.match(r.stdout, /^supgrpcd \S+ pid \d+ RUNNING /m);
  assert.match(r.stdout, /^counter {27}RUNNING {4}pid \d+, uptime /m);
  assert.match(r.stdout, /^sleeper +STOPPED /m);
  const numbers = (r.stdout.match(/^counter \| line (\d+)$/gm) ?? []).map((l) => Number(l.split(' ').pop()));
  assert.deepEqual(numbers, numbers.map((_, i) => numbers[0] + i));
});

it('a wrong token: exit 1 and the status name on stderr', async () => {
  const r = run([daemon.unixAddress], { SUPGRPC_TOKEN: 'wrong' });
  const code = await within(r.exit, 10_000);
  assert.equal(code, 1);
  assert.match(r.stderr, /^status\.js: UNAUTHENTICATED: /);
});
