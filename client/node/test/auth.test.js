// @ts-check
// Token auth over TCP and the unix socket (missing or wrong: UNAUTHENTICATED; right: OK),
// an unreachable daemon (UNAVAILABLE), and TLS with a client certificate (mutual TLS).
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const { connect, Status, SupgrpcError } = require('../dist/index.js');
const { Daemon, freePort, makeCerts } = require('./helpers.js');

/**
 * @param {Promise<unknown>} promise
 * @param {number} code
 */
async function rejectsWith(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof SupgrpcError, `expected a SupgrpcError, got ${err}`);
    assert.equal(err.code, code, `expected status ${code}, got ${err.status}: ${err.details}`);
    return true;
  });
}

/** @type {import('../dist/index.js').SupgrpcClient[]} */
const clients = [];
/** @param {import('../dist/index.js').ConnectOptions} options */
function client(options) {
  const c = connect({ callTimeoutSeconds: 5, ...options });
  clients.push(c);
  return c;
}
after(() => {
  for (const c of clients) c.close();
});

describe('bearer token', () => {
  const daemon = new Daemon();
  before(() => daemon.start());
  after(() => daemon.stop());

  it('over TCP: missing or wrong token is UNAUTHENTICATED, the right one works', async () => {
    const missing = client({ address: daemon.tcpAddress });
    await rejectsWith(missing.getState(), Status.UNAUTHENTICATED);
    await rejectsWith(missing.listProcesses(), Status.UNAUTHENTICATED);
    const wrong = client({ address: daemon.tcpAddress, token: 'not-the-token' });
    await rejectsWith(wrong.getState(), Status.UNAUTHENTICATED);
    const err = await wrong.start('sleeper').catch((e) => e);
    assert.equal(err.status, 'UNAUTHENTICATED');
    assert.equal((await c(daemon.tcpAddress, daemon.token).getState()).state, 'RUNNING');
  });

  it('streams need the token too', async () => {
    const sub = client({ address: daemon.tcpAddress }).followLogs('counter');
    await rejectsWith(sub.take(1), Status.UNAUTHENTICATED);
    const events = client({ address: daemon.tcpAddress, token: 'nope' }).watchEvents();
    await rejectsWith(events.take(1), Status.UNAUTHENTICATED);
    const ok = await c(daemon.tcpAddress, daemon.token).followLogs('counter', { fromLastLines: 1 }).take(1);
    assert.equal(ok.length, 1);
  });

  it('the token is required on the unix socket as well', async () => {
    await rejectsWith(client({ address: daemon.unixAddress }).getState(), Status.UNAUTHENTICATED);
    await rejectsWith(client({ address: daemon.sock, token: 'x' }).health(), Status.UNAUTHENTICATED);
    assert.equal(await c(daemon.unixAddress, daemon.token).health(), 'SERVING');
  });

  /** @param {string} address @param {string} token */
  function c(address, token) {
    return client({ address, token });
  }
});

describe('unreachable daemon', () => {
  it('a port nobody listens on is UNAVAILABLE', async () => {
    const port = await freePort();
    await rejectsWith(client({ address: `127.0.0.1:${port}`, token: 't' }).getState(), Status.UNAVAILABLE);
    await rejectsWith(client({ address: `127.0.0.1:${port}` }).waitForReady(0.3), Status.UNAVAILABLE);
  });

  it('a missing socket is UNAVAILABLE', async () => {
    const sock = path.join(os.tmpdir(), `sgnode-missing-${process.pid}.sock`);
    await rejectsWith(client({ address: `unix://${sock}` }).getState(), Status.UNAVAILABLE);
  });

  it('a malformed address is a TypeError at connect()', () => {
    assert.throws(() => connect({ address: 'no-port-here' }), TypeError);
    assert.throws(() => connect({ address: 'unix://relative.sock' }), TypeError);
  });
});

describe('mutual TLS on TCP', () => {
  const certDir = fs.mkdtempSync(path.join('/tmp', 'sgnode-certs-'));
  const certs = makeCerts(certDir);
  const daemon = certs
    ? new Daemon({
        grpcExtra: [`tls_cert = ${certs.serverCert}`, `tls_key = ${certs.serverKey}`, `tls_client_ca = ${certs.ca}`].join('\n'),
      })
    : null;
  before(async () => {
    if (daemon) await daemon.start();
  });
  after(async () => {
    if (daemon) await daemon.stop();
    fs.rmSync(certDir, { recursive: true, force: true });
  });
  const skip = certs ? false : 'openssl is not installed';
  // By name (the certificate has DNS:localhost too): TLS does not send IP addresses as SNI.
  const tlsAddress = () => `localhost:${daemon?.port}`;

  it('a client certificate and the token: OK', { skip }, async () => {
    if (!daemon || !certs) return;
    const c = client({
      address: tlsAddress(),
      token: daemon.token,
      tls: { ca: certs.ca, cert: certs.clientCert, key: fs.readFileSync(certs.clientKey) },
    });
    assert.equal((await c.getState()).state, 'RUNNING');
    const chunks = await c.followLogs('counter', { fromLastLines: 1 }).take(1);
    assert.equal(chunks.length, 1);
  });

  it('TLS without a client certificate, or plaintext: UNAVAILABLE', { skip }, async () => {
    if (!daemon || !certs) return;
    await rejectsWith(client({ address: tlsAddress(), token: daemon.token, tls: { ca: certs.ca } }).getState(), Status.UNAVAILABLE);
    await rejectsWith(client({ address: tlsAddress(), token: daemon.token }).getState(), Status.UNAVAILABLE);
  });

  it('the unix socket stays plaintext (tls is ignored there)', { skip }, async () => {
    if (!daemon || !certs) return;
    const c = client({ address: daemon.unixAddress, token: daemon.token, tls: { ca: certs.ca } });
    assert.equal((await c.getState()).state, 'RUNNING');
  });
});
