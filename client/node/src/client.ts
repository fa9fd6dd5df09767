// A thin typed client for supgrpcd's supgrpc.v1.SupervisorService, on @grpc/grpc-js with the
// .proto loaded at runtime by @grpc/proto-loader.
//
//   const c = connect({ address: 'unix:///run/supgrpc.sock' });
//   for (const p of await c.listProcesses()) console.log(p.namespec, p.state);
//   for await (const chunk of c.followLogs('web', { fromLastLines: 10 })) process.stdout.write(chunk.data);
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { defaultAddress, grpcTarget } from './address';
import { toSupgrpcError } from './errors';
import { findProtoDir, healthClient, supervisorServiceClient } from './proto';
import { Subscription } from './stream';
import {
  configChanges,
  daemonStatus,
  EVENT_KIND_VALUES,
  logChunk,
  num,
  processInfo,
  processResult,
  STREAM_VALUES,
  supervisorEvent,
  type ConfigChanges,
  type DaemonStatus,
  type EventKindName,
  type LogChunk,
  type LogRead,
  type LogStreamName,
  type ProcessInfo,
  type ProcessResult,
  type ServingStatusName,
  type SupervisorEvent,
} from './types';

/** Default deadline of unary calls, in seconds. */
export const DEFAULT_CALL_TIMEOUT = 10;

/** A PEM file path, or the PEM contents (a Buffer, or a string starting with `-----BEGIN`). */
export type Pem = string | Buffer;

/** TLS for TCP addresses (ignored for unix sockets, which are always plaintext). */
export interface TlsOptions {
  /** CA certificate(s) to verify the server; default: the system roots. */
  ca?: Pem;
  /** The client's certificate chain, for mutual TLS (with `key`). */
  cert?: Pem;
  /** The client's private key, for mutual TLS (with `cert`). */
  key?: Pem;
  /** The name expected in the server certificate, if not the address's host. */
  serverName?: string;
}

export interface ConnectOptions {
  /** `unix:///path`, `/path`, or `host:port`. Default: $SUPGRPC_ADDRESS, else the default socket. */
  address?: string;
  /** Bearer token, sent on every call as `authorization: Bearer <token>`. */
  token?: string;
  /** TLS on a TCP address: `true` (system roots) or the certificates. */
  tls?: boolean | TlsOptions;
  /** Deadline of unary calls in seconds (default 10); null: none. */
  callTimeoutSeconds?: number | null;
  /** Extra grpc-js channel options (`grpc.max_receive_message_length`...). */
  channelOptions?: grpc.ChannelOptions;
  /** Where supgrpc/v1/supervisor.proto lives (default: found automatically, see README). */
  protoDir?: string;
}

export interface ActionOptions {
  /** Wait until the process is RUNNING (start) or stopped (stop). Default true. */
  wait?: boolean;
  /** How long the daemon may wait at most (whole request); unset: until the RPC deadline. */
  timeoutSeconds?: number;
}

export interface FollowOptions {
  /** Keep streaming new output until cancel(). Default true (false: end once caught up). */
  follow?: boolean;
  /** Which streams of each process (`main` adds the daemon's log). Default `['stdout']`. */
  streams?: LogStreamName[];
  /** Start with the last N bytes held in memory. */
  fromLastBytes?: number;
  /** Start with the last N lines held in memory. */
  fromLastLines?: number;
  /** Start at this absolute offset (meaningful with one stream). */
  offset?: number;
  /** Cancels the stream when aborted. */
  signal?: AbortSignal;
}

export interface WatchOptions {
  /** Globs on process name, namespec or group; empty: all. Daemon events always pass. */
  processes?: string | string[];
  /** Kinds of events to send; empty: all. */
  kinds?: EventKindName[];
  /** Replay from after this sequence number (0: oldest kept); unset: only new events. */
  afterSequence?: number;
  /** Cancels the stream when aborted. */
  signal?: AbortSignal;
}

export interface ReadLogOptions {
  /** `stdout` (default) or `stderr`; ignored for the daemon's log. */
  stream?: 'stdout' | 'stderr';
  /** Byte offset in the current file; negative (with length 0): the last -offset bytes. */
  offset?: number;
  /** Bytes to read; 0: to the end of the file. */
  length?: number;
}

function pem(value: Pem | undefined): Buffer | null {
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  if (value.trimStart().startsWith('-----BEGIN')) return Buffer.from(value);
  return fs.readFileSync(value);
}

function duration(seconds: number | undefined): { seconds: number; nanos: number } | null {
  if (seconds === undefined || seconds === null) return null;
  if (!(seconds >= 0)) throw new RangeError(`timeoutSeconds must be >= 0, not ${seconds}`);
  const whole = Math.floor(seconds);
  return { seconds: whole, nanos: Math.round((seconds - whole) * 1e9) };
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

type Callback = (err: grpc.ServiceError | null, value?: unknown) => void;
type UnaryMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall;
type StreamMethod = (request: unknown, metadata: grpc.Metadata, options?: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

/** A connection to one supgrpcd. Cheap to create; the channel connects lazily. */
export class SupgrpcClient {
  /** The address given (or the default one). */
  readonly address: string;
  /** The grpc-js target (`unix:///path` or `host:port`). */
  readonly target: string;
  /** Deadline of unary calls in seconds; null: none. */
  callTimeoutSeconds: number | null;
  private readonly stub: grpc.Client;
  private readonly healthStub: grpc.Client;
  private readonly token: string | undefined;

  constructor(options: ConnectOptions = {}) {
    this.address = options.address ?? defaultAddress();
    const { target, isUnix } = grpcTarget(this.address);
    this.target = target;
    this.token = options.token || undefined;
    this.callTimeoutSeconds = options.callTimeoutSeconds === undefined ? DEFAULT_CALL_TIMEOUT : options.callTimeoutSeconds;
    const channelOptions: grpc.ChannelOptions = { ...(options.channelOptions ?? {}) };
    let credentials = grpc.credentials.createInsecure();
    if (options.tls && !isUnix) {
      const tls: TlsOptions = options.tls === true ? {} : options.tls;
      credentials = grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
      if (tls.serverName) channelOptions['grpc.ssl_target_name_override'] = tls.serverName;
    }
    const protoDir = findProtoDir(options.protoDir);
    const Service = supervisorServiceClient(protoDir);
    this.stub = new Service(target, credentials, channelOptions);
    // The health client shares the channel.
    const Health = healthClient(protoDir);
    this.healthStub = new Health(target, credentials, { ...channelOptions, channelOverride: this.stub.getChannel() });
  }

  /** Close the channel. Calls in flight fail; open streams should be cancelled first. */
  close(): void {
    this.healthStub.close();
    this.stub.close();
  }

  /** The underlying grpc-js client (methods named as in the .proto: `GetState`...). */
  get grpcClient(): grpc.Client {
    return this.stub;
  }

  /** Wait until the channel is connected (or throw after `timeoutSeconds`). */
  waitForReady(timeoutSeconds = 10): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stub.waitForReady(Date.now() + timeoutSeconds * 1000, (err?: Error) =>
        err ? reject(toSupgrpcError({ code: grpc.status.UNAVAILABLE, details: `${this.address}: ${err.message}` })) : resolve(),
      );
    });
  }

  // ---- plumbing -------------------------------------------------------------------------

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  /** `deadline`: seconds; undefined = the client's default; null = none. */
  private unary<T>(stub: grpc.Client, method: string, request: object, deadline?: number | null): Promise<T> {
    const seconds = deadline === undefined ? this.callTimeoutSeconds : deadline;
    const options: grpc.CallOptions = seconds === null ? {} : { deadline: Date.now() + seconds * 1000 };
    const fn = (stub as unknown as Record<string, UnaryMethod>)[method];
    return new Promise<T>((resolve, reject) => {
      try {
        fn.call(stub, request, this.metadata(), options, (err, value) => {
          if (err) reject(toSupgrpcError(err));
          else resolve(value as T);
        });
      } catch (err) {
        reject(toSupgrpcError(err));
      }
    });
  }

  private call<T>(method: string, request: object, deadline?: number | null): Promise<T> {
    return this.unary<T>(this.stub, method, request, deadline);
  }

  private stream<T>(method: string, request: object, convert: (msg: unknown) => T, signal?: AbortSignal): Subscription<T> {
    const fn = (this.stub as unknown as Record<string, StreamMethod>)[method];
    return new Subscription<T>(fn.call(this.stub, request, this.metadata(), {}), convert, signal);
  }

  // A waited-for action may legitimately take long (stopwaitsecs...): the RPC deadline follows
  // the wait's own timeout, plus a margin for the answer; waiting without a timeout: none.
  private waitDeadline(wait: boolean, timeoutSeconds: number | undefined): number | null | undefined {
    if (timeoutSeconds !== undefined) return timeoutSeconds + 5;
    return wait ? null : undefined;
  }

  // ---- state ----------------------------------------------------------------------------

  /** The daemon's state, version, pid, identifier, start time and config file. */
  async getState(): Promise<DaemonStatus> {
    return daemonStatus(await this.call('GetState', {}));
  }

  /** Every process, or those matching globs on name, namespec or group; sorted by group, name. */
  async listProcesses(patterns?: string | string[]): Promise<ProcessInfo[]> {
    const reply = await this.call<{ processes: unknown[] }>('ListProcesses', { patterns: list(patterns) });
    return reply.processes.map(processInfo);
  }

  /** One process (namespec or unambiguous name). Rejects with NOT_FOUND. */
  async getProcess(name: string): Promise<ProcessInfo> {
    const reply = await this.call<{ process: unknown }>('GetProcess', { process: name });
    return processInfo(reply.process);
  }

  // ---- actions --------------------------------------------------------------------------

  /**
   * Start a namespec, `group:*` or `*`. One result per process (`ALREADY_STARTED`,
   * `SPAWN_ERROR`... in `code`); rejects with NOT_FOUND when the target names nothing.
   */
  start(target: string, options: ActionOptions = {}): Promise<ProcessResult[]> {
    return this.action('StartProcess', target, options.wait ?? true, options.timeoutSeconds);
  }

  /** Stop a target (highest priority first); one result per process (`NOT_RUNNING`...). */
  stop(target: string, options: ActionOptions = {}): Promise<ProcessResult[]> {
    return this.action('StopProcess', target, options.wait ?? true, options.timeoutSeconds);
  }

  /** Stop what runs of a target (always waited for), then start all of it. */
  restart(target: string, options: ActionOptions = {}): Promise<ProcessResult[]> {
    return this.action('RestartProcess', target, options.wait ?? true, options.timeoutSeconds, true);
  }

  private async action(method: string, target: string, wait: boolean, timeoutSeconds: number | undefined, alwaysWaits = false): Promise<ProcessResult[]> {
    const request = { target, wait, timeout: duration(timeoutSeconds) };
    const reply = await this.call<{ results: unknown[] }>(method, request, this.waitDeadline(wait || alwaysWaits, timeoutSeconds));
    return reply.results.map(processResult);
  }

  /** Send a signal (`HUP`, `SIGHUP`, `'1'` or 1) to every running process of a target. */
  async signal(target: string, signal: string | number): Promise<ProcessResult[]> {
    const request = typeof signal === 'number' ? { target, number: signal } : { target, name: signal };
    const reply = await this.call<{ results: unknown[] }>('SignalProcess', request);
    return reply.results.map(processResult);
  }

  /** Write to a running process's stdin. Rejects with FAILED_PRECONDITION when not running. */
  async writeStdin(name: string, data: string | Buffer): Promise<void> {
    await this.call('WriteStdin', { process: name, data: Buffer.isBuffer(data) ? data : Buffer.from(data) });
  }

  // ---- logs -----------------------------------------------------------------------------

  /** supervisor's readLog on the current file. `name` null: the daemon's log. */
  async readLog(name: string | null, options: ReadLogOptions = {}): Promise<LogRead> {
    const reply = await this.call<{ data: Buffer; fileSize: unknown }>('ReadLog', {
      process: name ?? '',
      stream: STREAM_VALUES[options.stream ?? 'stdout'],
      offset: options.offset ?? 0,
      length: options.length ?? 0,
    });
    return { data: Buffer.from(reply.data), fileSize: num(reply.fileSize) };
  }

  /** Clear a process's logs (`*`: every process; null: the daemon's log). */
  async clearLog(name: string | null): Promise<ProcessResult[]> {
    const reply = await this.call<{ results: unknown[] }>('ClearLog', { process: name ?? '' });
    return reply.results.map(processResult);
  }

  /**
   * TailLog: stream the output of processes (names, namespecs, `group:*`, globs, `*`) and/or
   * the daemon's log (stream `main`). Each chunk names its process and stream and carries its
   * absolute offset. With `follow` (the default) it runs until cancel(); without, it ends once
   * caught up. Start at `fromLastBytes`, `fromLastLines` or `offset` (at most one), else at
   * the oldest byte held in memory. See splitLines() for whole lines.
   */
  followLogs(targets: string | string[], options: FollowOptions = {}): Subscription<LogChunk> {
    const starts = ['fromLastBytes', 'fromLastLines', 'offset'].filter((k) => options[k as keyof FollowOptions] !== undefined);
    if (starts.length > 1) throw new TypeError(`followLogs: give at most one of ${starts.join(', ')}`);
    const request: Record<string, unknown> = {
      processes: list(targets),
      streams: (options.streams ?? ['stdout']).map((s) => STREAM_VALUES[s]),
      follow: options.follow ?? true,
    };
    if (options.fromLastBytes !== undefined) request.tailBytes = options.fromLastBytes;
    else if (options.fromLastLines !== undefined) request.tailLines = options.fromLastLines;
    else if (options.offset !== undefined) request.offset = options.offset;
    return this.stream('TailLog', request, logChunk, options.signal);
  }

  /**
   * WatchEvents: every process transition, daemon state change, group change and program
   * health change, in order, until cancel(). `afterSequence` replays kept history.
   */
  watchEvents(options: WatchOptions = {}): Subscription<SupervisorEvent> {
    const request: Record<string, unknown> = {
      processes: list(options.processes),
      kinds: (options.kinds ?? []).map((k) => EVENT_KIND_VALUES[k]),
    };
    if (options.afterSequence !== undefined) request.afterSequence = options.afterSequence;
    return this.stream('WatchEvents', request, supervisorEvent, options.signal);
  }

  // ---- configuration and daemon ---------------------------------------------------------

  /** What a reload would change (nothing is applied). */
  async reread(): Promise<ConfigChanges> {
    return configChanges(await this.call('Reread', {}));
  }

  /** Reread and apply (optionally for named groups only). */
  async update(groups: string[] = [], options: { timeoutSeconds?: number } = {}): Promise<ConfigChanges> {
    const request = { groups, timeout: duration(options.timeoutSeconds) };
    return configChanges(await this.call('Update', request, this.waitDeadline(true, options.timeoutSeconds)));
  }

  /** Add a group present in the last read of the configuration. */
  async addGroup(group: string): Promise<void> {
    await this.call('AddGroup', { group });
  }

  /** Remove a group whose processes are all stopped. */
  async removeGroup(group: string): Promise<void> {
    await this.call('RemoveGroup', { group });
  }

  /** Reopen every log file (what SIGUSR2 does). */
  async reopenLogs(): Promise<void> {
    await this.call('ReopenLogs', {});
  }

  /** Stop every process, then end the daemon. */
  async shutdown(): Promise<void> {
    await this.call('Shutdown', {});
  }

  /** grpc.health.v1 status of `service` (`''`: the init; `program:NAME`: one process). */
  async health(service = ''): Promise<ServingStatusName> {
    const reply = await this.unary<{ status: string }>(this.healthStub, 'Check', { service });
    return reply.status as ServingStatusName;
  }
}

/** Create a client (the channel connects lazily; see waitForReady()). */
export function connect(options: ConnectOptions = {}): SupgrpcClient {
  return new SupgrpcClient(options);
}
