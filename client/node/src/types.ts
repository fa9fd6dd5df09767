// The plain values the client returns instead of protobuf messages, and their builders.
// Enum values become short names (`RUNNING`, `ALREADY_STARTED`, `stdout`), times become Date
// (or null for "never"), 64-bit integers become numbers (exact below 2^53, i.e. 8 PiB).

/** supervisor's process states. */
export type ProcessStateName =
  | 'STOPPED'
  | 'STARTING'
  | 'RUNNING'
  | 'BACKOFF'
  | 'STOPPING'
  | 'EXITED'
  | 'FATAL'
  | 'UNKNOWN'
  | 'UNSPECIFIED';

/** The daemon's own states. */
export type DaemonStateName = 'RUNNING' | 'RESTARTING' | 'SHUTDOWN' | 'FATAL' | 'UNSPECIFIED';

/** A program's own health check result. */
export type ProgramHealthName = 'NONE' | 'STARTING' | 'HEALTHY' | 'UNHEALTHY' | 'UNSPECIFIED';

/** One process's outcome of start, stop, restart, signal or clear. */
export type ResultCodeName =
  | 'OK'
  | 'ALREADY_STARTED'
  | 'NOT_RUNNING'
  | 'SPAWN_ERROR'
  | 'ABNORMAL_TERMINATION'
  | 'NO_FILE'
  | 'NOT_EXECUTABLE'
  | 'TIMEOUT'
  | 'SHUTTING_DOWN'
  | 'BAD_SIGNAL'
  | 'FAILED'
  | 'UNSPECIFIED';

/** A log stream: a process's stdout or stderr, or the daemon's own log (`main`). */
export type LogStreamName = 'stdout' | 'stderr' | 'main';

/** Kinds of WatchEvents records, to filter on. */
export type EventKindName = 'process_state' | 'daemon_state' | 'group_added' | 'group_removed' | 'program_health';

/** grpc.health.v1 serving status. */
export type ServingStatusName = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** GetState: the daemon itself. */
export interface DaemonStatus {
  state: DaemonStateName;
  version: string;
  pid: number;
  identifier: string;
  startTime: Date | null;
  configFile: string;
}

/** How a process last ended: `code` or `signal` is set. */
export interface ExitStatus {
  code: number | null;
  signal: number | null;
  coreDumped: boolean;
  description: string;
}

/** CPU, memory and descendants of a live process (zeros when not running). */
export interface ResourceUsage {
  cpuPercent: number;
  rssBytes: number;
  children: number;
}

/** A snapshot of one process (ListProcesses/GetProcess). */
export interface ProcessInfo {
  name: string;
  group: string;
  /** `group:name`, or `name` when the group has the process's name. */
  namespec: string;
  state: ProcessStateName;
  /** What supervisorctl's status prints after the state (`pid 12, uptime 0:01:02`...). */
  description: string;
  pid: number;
  startTime: Date | null;
  stopTime: Date | null;
  exitStatus: ExitStatus | null;
  expected: boolean;
  spawnError: string;
  stdoutLogfile: string;
  stderrLogfile: string;
  resources: ResourceUsage;
  health: ProgramHealthName;
  healthOutput: string;
}

/** One process's outcome of an action on a target. */
export interface ProcessResult {
  process: string;
  name: string;
  group: string;
  code: ResultCodeName;
  message: string;
  /** `code === 'OK'`. */
  ok: boolean;
}

/** Reread/Update: group names added, changed and removed. */
export interface ConfigChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

/** ReadLog: bytes of the current log file and its size. */
export interface LogRead {
  data: Buffer;
  fileSize: number;
}

/** TailLog: `data` at absolute `offset`, or `gap` bytes skipped from `offset`. */
export interface LogChunk {
  /** The namespec; empty for the daemon's log. */
  process: string;
  stream: LogStreamName;
  /** Absolute offset of the first byte (never reset by rotation or clearing). */
  offset: number;
  /** The bytes (empty for a gap). A line may be split across chunks. */
  data: Buffer;
  /** Bytes that left memory before this reader got them (still in the log files). */
  gap: number;
}

/** A whole line of one stream (see splitLines), or a gap in it. */
export interface LogLine {
  process: string;
  stream: LogStreamName;
  /** The line without its newline; empty for a gap. */
  line: string;
  /** > 0: that many bytes were skipped here (a line around the gap may be incomplete). */
  gap: number;
}

interface EventBase {
  /** Strictly increasing; 0 for a `missed` notice. */
  sequence: number;
  time: Date | null;
}

/** A process changed state. */
export interface ProcessStateEvent extends EventBase {
  kind: 'process_state';
  name: string;
  group: string;
  namespec: string;
  fromState: ProcessStateName;
  toState: ProcessStateName;
  pid: number;
  /** For EXITED: whether the exit status was expected. */
  expected: boolean;
  /** For BACKOFF/FATAL: why the start failed. */
  reason: string;
}

/** The daemon changed state. */
export interface DaemonStateEvent extends EventBase {
  kind: 'daemon_state';
  state: DaemonStateName;
  reason: string;
}

/** A group was added or removed. */
export interface GroupEvent extends EventBase {
  kind: 'group_added' | 'group_removed';
  group: string;
}

/** A program's health check result changed. */
export interface ProgramHealthEvent extends EventBase {
  kind: 'program_health';
  name: string;
  group: string;
  namespec: string;
  health: ProgramHealthName;
  output: string;
}

/** This reader fell behind the kept history and missed `count` events. */
export interface MissedEvent extends EventBase {
  kind: 'missed';
  count: number;
}

/** An event the server sent that this client does not know. */
export interface UnknownEvent extends EventBase {
  kind: 'unknown';
}

/** One WatchEvents record; switch on `kind`. */
export type SupervisorEvent =
  | ProcessStateEvent
  | DaemonStateEvent
  | GroupEvent
  | ProgramHealthEvent
  | MissedEvent
  | UnknownEvent;

// ---- builders from proto-loader objects (longs as strings, enums as names) ----------------

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;

export function shortName<T extends string>(value: unknown, prefix: string): T {
  const text = String(value);
  return (text.startsWith(prefix) ? text.slice(prefix.length) : text) as T;
}

export function num(value: unknown): number {
  if (value === null || value === undefined || value === '') return 0;
  return Number(value);
}

export function timestamp(ts: Msg): Date | null {
  if (!ts) return null;
  return new Date(num(ts.seconds) * 1000 + Math.floor(num(ts.nanos) / 1e6));
}

export function streamName(value: unknown): LogStreamName {
  return shortName<string>(value, 'LOG_STREAM_').toLowerCase() as LogStreamName;
}

export const STREAM_VALUES: Record<LogStreamName, string> = {
  stdout: 'LOG_STREAM_STDOUT',
  stderr: 'LOG_STREAM_STDERR',
  main: 'LOG_STREAM_MAIN',
};

export const EVENT_KIND_VALUES: Record<EventKindName, string> = {
  process_state: 'EVENT_KIND_PROCESS_STATE',
  daemon_state: 'EVENT_KIND_DAEMON_STATE',
  group_added: 'EVENT_KIND_GROUP_ADDED',
  group_removed: 'EVENT_KIND_GROUP_REMOVED',
  program_health: 'EVENT_KIND_PROGRAM_HEALTH',
};

export function daemonStatus(msg: Msg): DaemonStatus {
  return {
    state: shortName(msg.state, 'DAEMON_STATE_'),
    version: msg.version,
    pid: num(msg.pid),
    identifier: msg.identifier,
    startTime: timestamp(msg.startTime),
    configFile: msg.configFile,
  };
}

export function processInfo(msg: Msg): ProcessInfo {
  const es = msg.exitStatus;
  const r = msg.resources ?? {};
  return {
    name: msg.name,
    group: msg.group,
    namespec: msg.namespec,
    state: shortName(msg.state, 'PROCESS_STATE_'),
    description: msg.description,
    pid: num(msg.pid),
    startTime: timestamp(msg.startTime),
    stopTime: timestamp(msg.stopTime),
    exitStatus: es
      ? {
          code: es.kind === 'code' ? num(es.code) : null,
          signal: es.kind === 'signal' ? num(es.signal) : null,
          coreDumped: Boolean(es.coreDumped),
          description: es.description,
        }
      : null,
    expected: Boolean(msg.expected),
    spawnError: msg.spawnError,
    stdoutLogfile: msg.stdoutLogfile,
    stderrLogfile: msg.stderrLogfile,
    resources: { cpuPercent: num(r.cpuPercent), rssBytes: num(r.rssBytes), children: num(r.children) },
    health: shortName(msg.health, 'PROGRAM_HEALTH_'),
    healthOutput: msg.healthOutput,
  };
}

export function processResult(msg: Msg): ProcessResult {
  const code = shortName<ResultCodeName>(msg.code, 'RESULT_CODE_');
  return { process: msg.process, name: msg.name, group: msg.group, code, message: msg.message, ok: code === 'OK' };
}

export function configChanges(msg: Msg): ConfigChanges {
  return { added: [...msg.added], changed: [...msg.changed], removed: [...msg.removed] };
}

export function logChunk(msg: Msg): LogChunk {
  const isGap = msg.content === 'gap';
  return {
    process: msg.process,
    stream: streamName(msg.stream),
    offset: num(msg.offset),
    data: isGap ? Buffer.alloc(0) : Buffer.from(msg.data ?? []),
    gap: isGap ? num(msg.gap) : 0,
  };
}

export function supervisorEvent(msg: Msg): SupervisorEvent {
  const base = { sequence: num(msg.sequence), time: timestamp(msg.time) };
  switch (msg.event) {
    case 'processState': {
      const p = msg.processState;
      return {
        ...base,
        kind: 'process_state',
        name: p.name,
        group: p.group,
        namespec: p.namespec,
        fromState: shortName(p.fromState, 'PROCESS_STATE_'),
        toState: shortName(p.toState, 'PROCESS_STATE_'),
        pid: num(p.pid),
        expected: Boolean(p.expected),
        reason: p.reason,
      };
    }
    case 'daemonState':
      return { ...base, kind: 'daemon_state', state: shortName(msg.daemonState.state, 'DAEMON_STATE_'), reason: msg.daemonState.reason };
    case 'groupAdded':
      return { ...base, kind: 'group_added', group: msg.groupAdded.group };
    case 'groupRemoved':
      return { ...base, kind: 'group_removed', group: msg.groupRemoved.group };
    case 'programHealth': {
      const h = msg.programHealth;
      return {
        ...base,
        kind: 'program_health',
        name: h.name,
        group: h.group,
        namespec: h.namespec,
        health: shortName(h.health, 'PROGRAM_HEALTH_'),
        output: h.output,
      };
    }
    case 'missed':
      return { ...base, kind: 'missed', count: num(msg.missed.count) };
    default:
      return { ...base, kind: 'unknown' };
  }
}
