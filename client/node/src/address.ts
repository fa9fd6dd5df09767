// Addresses: `unix:///path`, `unix:/path`, `/path`, `host:port`, `:port` (localhost),
// `http(s)://host:port`; and the daemon's default socket (same rule as the server and the
// Python client, see docs/grpc.md "Default socket").
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A gRPC target for @grpc/grpc-js, and whether it is a unix socket. */
export interface Target {
  target: string;
  isUnix: boolean;
}

function writableDir(dir: string): boolean {
  try {
    if (!fs.statSync(dir).isDirectory()) return false;
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The daemon's default socket: `/run/supgrpc.sock` as root when /run is writable, else
 * `$XDG_RUNTIME_DIR/supgrpc.sock` when that directory exists and is writable, else
 * `/tmp/supgrpc-<uid>.sock`.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : os.userInfo().uid;
  if (uid === 0 && writableDir('/run')) return '/run/supgrpc.sock';
  const xdg = env.XDG_RUNTIME_DIR ?? '';
  if (xdg && path.isAbsolute(xdg) && writableDir(xdg)) return path.join(xdg, 'supgrpc.sock');
  return `/tmp/supgrpc-${uid}.sock`;
}

/** `$SUPGRPC_ADDRESS`, else `unix://` + the default socket. */
export function defaultAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.SUPGRPC_ADDRESS || `unix://${defaultSocketPath(env)}`;
}

/** Turn a user address into a grpc-js target. Throws TypeError on anything else. */
export function grpcTarget(address: string): Target {
  let text = address.trim();
  for (const prefix of ['unix://', 'unix:']) {
    if (text.startsWith(prefix)) {
      const p = text.slice(prefix.length);
      if (!p.startsWith('/')) throw new TypeError(`${JSON.stringify(address)}: unix sockets need an absolute path`);
      return { target: `unix://${p}`, isUnix: true };
    }
  }
  if (text.startsWith('/')) return { target: `unix://${text}`, isUnix: true };
  text = text.replace(/^(?:https?|grpcs?|tcp):\/\//, '').replace(/\/+$/, '');
  const colon = text.lastIndexOf(':');
  const port = colon >= 0 ? text.slice(colon + 1) : '';
  if (colon < 0 || !/^\d+$/.test(port)) {
    throw new TypeError(`${JSON.stringify(address)} is neither unix:///path nor host:port`);
  }
  let host = text.slice(0, colon);
  if (host === '' || host === '*' || host === '0.0.0.0' || host === '[::]') host = 'localhost';
  return { target: `${host}:${port}`, isUnix: false };
}
