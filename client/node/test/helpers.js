// @ts-check
// Test helpers: a real supgrpcd per test file (path from $SUPGRPCD, default `supgrpcd` on
// PATH) with a generated config in a temporary directory, polling with deadlines, cleanup.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const SUPGRPCD = process.env.SUPGRPCD || 'supgrpcd';
const TOKEN = 'node-test-token-8c1d';

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Poll `predicate` until it returns something truthy (exceptions count as "not yet").
 * @template T
 * @param {() => T | Promise<T>} predicate
 * @param {{timeout?: number, interval?: number, what?: string}} [options] seconds / ms
 * @returns {Promise<T>}
 */
async function waitUntil(predicate, { timeout = 10, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout * 1000;
  let last;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout}s waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    }
    await sleep(interval);
  }
}

const TIMED_OUT = Symbol('timed out');

/**
 * `promise`'s value, or TIMED_OUT after `ms` (the timer never outlives the race).
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T | typeof TIMED_OUT>}
 */
async function within(promise, ms) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A free TCP port on 127.0.0.1. @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves when something accepts on `options`, rejects otherwise. @param {net.NetConnectOpts} options */
function accepts(options) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', reject);
  });
}

// Prints "line N" every 50 ms, N counting from 1.
const COUNTER_JS = `
let i = 0;
setInterval(() => { i += 1; process.stdout.write('line ' + i + '\\n'); }, 50);
`;

const live = new Set();
// Backstop: never leave a daemon (or its children) behind, even if a test file crashes.
process.on('exit', () => {
  for (const daemon of live) daemon.killGroup('SIGKILL');
});

class Daemon {
  /**
   * @param {object} [options]
   * @param {string} [options.token] bearer token (also enables the TCP listener)
   * @param {boolean} [options.tcp] add a TCP listener on 127.0.0.1 (requires a token)
   * @param {string} [options.extraPrograms] more [program:x] sections
   * @param {string} [options.grpcExtra] more lines for [grpc] (tls_cert = ...)
   */
  constructor({ token = TOKEN, tcp = true, extraPrograms = '', grpcExtra = '' } = {}) {
    // Short: unix socket paths are limited to 107 bytes.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir().length < 40 ? os.tmpdir() : '/tmp', 'sgnode-'));
    this.sock = path.join(this.dir, 'g.sock');
    this.conf = path.join(this.dir, 'supgrpc.conf');
    this.token = token;
    this.tcp = tcp;
    this.extraPrograms = extraPrograms;
    this.grpcExtra = grpcExtra;
    this.port = 0;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    this.exited = false;
  }

  get unixAddress() {
    return `unix://${this.sock}`;
  }

  get tcpAddress() {
    return `127.0.0.1:${this.port}`;
  }

  writeConfig() {
    fs.writeFileSync(path.join(this.dir, 'counter.js'), COUNTER_JS);
    const listen = [`unix://${this.sock}`];
    if (this.tcp) listen.push(`127.0.0.1:${this.port}`);
    fs.writeFileSync(
      this.conf,
      [
        '[supervisord]',
        `logfile = ${this.dir}/supervisord.log`,
        `childlogdir = ${this.dir}`,
        `pidfile = ${this.dir}/supgrpcd.pid`,
        'loglevel = info',
        'silent = true',
        '',
        '[grpc]',
        `listen = ${listen.join(', ')}`,
        this.token ? `token = ${this.token}` : '',
        this.grpcExtra,
        '',
        '[program:counter]',
        `command = ${process.execPath} ${this.dir}/counter.js`,
        'startsecs = 0',
        '',
        '[program:sleeper]',
        'command = /bin/sleep 1000',
        'startsecs = 0',
        'autostart = false',
        'stopwaitsecs = 5',
        '',
        '[program:cat]',
        'command = /bin/cat',
        'startsecs = 0',
        '',
        '[group:grp]',
        'programs = w1,w2',
        '',
        '[program:w1]',
        'command = /bin/sleep 1000',
        'startsecs = 0',
        '',
        '[program:w2]',
        'command = /bin/sleep 1000',
        'startsecs = 0',
        '',
        this.extraPrograms,
        '',
      ].join('\n'),
    );
  }

  /** Start supgrpcd and wait until it accepts on its socket (and TCP port). */
  async start() {
    if (this.tcp) this.port = await freePort();
    this.writeConfig();
    const out = fs.openSync(path.join(this.dir, 'daemon.out'), 'w');
    const proc = spawn(SUPGRPCD, ['-c', this.conf], { stdio: ['ignore', out, out], detached: true });
    fs.closeSync(out);
    this.proc = proc;
    live.add(this);
    /** @type {Error | null} */
    let spawnError = null;
    proc.on('error', (err) => {
      spawnError = err;
    });
    proc.on('exit', () => {
      this.exited = true;
    });
    const alive = () => {
      if (spawnError) throw new Error(`cannot run ${SUPGRPCD} (set SUPGRPCD): ${spawnError.message}`);
      if (this.exited) throw new Error(`supgrpcd exited ${proc.exitCode ?? proc.signalCode}: ${this.output()}`);
    };
    const ready = async () => {
      alive();
      await accepts({ path: this.sock });
      if (this.tcp) await accepts({ host: '127.0.0.1', port: this.port });
      return true;
    };
    try {
      await waitUntil(ready, { timeout: 15, what: `supgrpcd to listen on ${this.sock}` });
    } catch (err) {
      alive(); // a clearer message when it died
      throw err;
    }
  }

  output() {
    try {
      return fs.readFileSync(path.join(this.dir, 'daemon.out'), 'utf8');
    } catch {
      return '';
    }
  }

  /** @param {NodeJS.Signals} signal */
  killGroup(signal) {
    if (!this.proc || this.exited || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, wait up to 10 s, then SIGKILL the whole process group; remove the directory. */
  async stop() {
    const proc = this.proc;
    if (proc && !this.exited) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      if ((await within(exited, 10_000)) === TIMED_OUT) {
        this.killGroup('SIGKILL');
        await within(exited, 5_000);
      }
    }
    // Whatever might be left in the daemon's process group (there should be nothing).
    if (proc && proc.pid !== undefined) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is empty, as it should be
      }
    }
    live.delete(this);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate,
 * made with the openssl CLI in `dir`. Returns null when openssl is missing.
 * @param {string} dir
 * @returns {Record<'ca'|'serverCert'|'serverKey'|'clientCert'|'clientKey', string> | null}
 */
function makeCerts(dir) {
  const { spawnSync } = require('node:child_process');
  /** @param {string[]} args */
  const openssl = (...args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.error) return false;
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    return true;
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  if (!openssl('req', '-x509', ...ec, '-nodes', '-days', '2', '-subj', '/CN=supgrpc node test CA', '-keyout', 'ca.key', '-out', 'ca.pem')) {
    return null;
  }
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  fs.writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl('req', ...ec, '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
    openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${who}.ext`, '-out', `${who}.pem`);
  }
  const p = (/** @type {string} */ name) => path.join(dir, name);
  return { ca: p('ca.pem'), serverCert: p('server.pem'), serverKey: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key') };
}

module.exports = { Daemon, SUPGRPCD, TIMED_OUT, TOKEN, freePort, makeCerts, sleep, waitUntil, within };
