// A server stream (TailLog, WatchEvents) as an async iterable and an event emitter, with
// cancel(). Use one style per stream: `for await (const x of sub)` or `sub.on('data', ...)`.
import { EventEmitter } from 'node:events';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { Status, SupgrpcError, toSupgrpcError } from './errors';

// Backpressure for iteration: stop reading from the socket while this many values wait.
const HIGH_WATER = 256;
const LOW_WATER = 64;

interface Waiter<T> {
  resolve: (result: IteratorResult<T>) => void;
  reject: (err: SupgrpcError) => void;
}

export interface Subscription<T> {
  /** A value arrived (event style). Adding the first 'data' listener starts the flow. */
  on(event: 'data', listener: (value: T) => void): this;
  /** The stream ended: the server finished, or cancel() was called. Emitted once. */
  on(event: 'end', listener: () => void): this;
  /** The stream failed (never after cancel()). Without a listener the error is only kept. */
  on(event: 'error', listener: (err: SupgrpcError) => void): this;
  once(event: 'data', listener: (value: T) => void): this;
  once(event: 'end', listener: () => void): this;
  once(event: 'error', listener: (err: SupgrpcError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this; // eslint-disable-line @typescript-eslint/no-explicit-any
  once(event: string | symbol, listener: (...args: any[]) => void): this; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * A running server stream. Iterate it (`for await`), or listen to 'data'/'end'/'error'.
 * `cancel()` ends it from anywhere: iteration then finishes quietly (no error), 'end' is
 * emitted, and the server frees the stream's slot. Breaking out of a `for await` loop
 * cancels too. Any other failure rejects the iteration / emits 'error' as a SupgrpcError.
 */
export class Subscription<T> extends EventEmitter implements AsyncIterable<T> {
  private readonly call: ClientReadableStream<unknown>;
  private readonly convert: (msg: unknown) => T;
  private mode: 'idle' | 'iterate' | 'events' = 'idle';
  private readonly queue: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private paused = false;
  private ended = false;
  private failure: SupgrpcError | null = null;
  private failureReported = false;
  private cancelledByUs = false;
  private endEmitted = false;
  private finishedPromise: Promise<void> | null = null;

  constructor(call: ClientReadableStream<unknown>, convert: (msg: unknown) => T, signal?: AbortSignal) {
    super();
    this.call = call;
    this.convert = convert;
    // Always listen for errors, so a failure nobody consumes is kept, never thrown.
    call.on('error', (err: unknown) => this.onError(err));
    call.on('end', () => this.onEnd());
    this.on('newListener', (event: string) => {
      if (event === 'data') this.start('events');
    });
    if (signal) {
      if (signal.aborted) this.cancel();
      else signal.addEventListener('abort', () => this.cancel(), { once: true });
    }
  }

  /** True once cancel() was called. */
  get cancelled(): boolean {
    return this.cancelledByUs;
  }

  /** True once the stream is over (ended, failed or cancelled). */
  get closed(): boolean {
    return this.ended || this.failure !== null || this.cancelledByUs;
  }

  /** Cancel the call (idempotent). The iteration ends quietly; 'end' is emitted. */
  cancel(): void {
    if (this.cancelledByUs) return;
    this.cancelledByUs = true;
    if (!this.ended && this.failure === null) this.call.cancel();
    this.queue.length = 0;
    this.settleWaiters();
    this.emitEnd();
  }

  /** Resolves when the stream is over (ended or cancelled); rejects if it failed. */
  finished(): Promise<void> {
    if (!this.finishedPromise) {
      this.finishedPromise = new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (this.failure && !this.isOurCancel(this.failure)) reject(this.failure);
          else if (this.ended || this.cancelledByUs || this.failure) resolve();
        };
        check();
        // After the Subscription's own listeners (registered first), so state is updated.
        this.call.on('error', check);
        super.on('end', check);
      });
    }
    return this.finishedPromise;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    this.start('iterate');
    return {
      next: () => this.next(),
      return: async (): Promise<IteratorResult<T>> => {
        this.cancel();
        return { value: undefined, done: true };
      },
    };
  }

  /** Collect up to `count` values (or until the stream ends), then cancel it. */
  async take(count: number): Promise<T[]> {
    const out: T[] = [];
    if (count <= 0) {
      this.cancel();
      return out;
    }
    for await (const value of this) {
      out.push(value);
      if (out.length >= count) break;
    }
    return out;
  }

  // ---- internals ------------------------------------------------------------------------

  private start(mode: 'iterate' | 'events'): void {
    if (this.mode === mode) return;
    if (this.mode !== 'idle') throw new Error(`this stream is already consumed by ${this.mode === 'iterate' ? 'iteration' : "'data' listeners"}`);
    this.mode = mode;
    this.call.on('data', (msg: unknown) => this.onData(msg));
  }

  private next(): Promise<IteratorResult<T>> {
    if (this.cancelledByUs) return Promise.resolve({ value: undefined, done: true });
    const value = this.queue.shift();
    if (value !== undefined) {
      if (this.paused && this.queue.length <= LOW_WATER) {
        this.paused = false;
        this.call.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) {
      if (this.isOurCancel(this.failure) || this.failureReported) return Promise.resolve({ value: undefined, done: true });
      this.failureReported = true;
      return Promise.reject(this.failure);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private onData(msg: unknown): void {
    if (this.cancelledByUs) return;
    const value = this.convert(msg);
    if (this.mode === 'events') {
      this.emit('data', value);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ value, done: false });
      return;
    }
    this.queue.push(value);
    if (!this.paused && this.queue.length >= HIGH_WATER) {
      this.paused = true;
      this.call.pause();
    }
  }

  private onEnd(): void {
    this.ended = true;
    this.settleWaiters();
    this.emitEnd();
  }

  private onError(err: unknown): void {
    this.failure = toSupgrpcError(err);
    if (this.isOurCancel(this.failure)) {
      this.settleWaiters();
      this.emitEnd();
      return;
    }
    // Iteration reports the failure by rejecting next(); event style by 'error' (if heard).
    if (this.mode !== 'iterate' && this.listenerCount('error') > 0) this.emit('error', this.failure);
    this.settleWaiters();
  }

  private isOurCancel(err: SupgrpcError): boolean {
    return this.cancelledByUs && err.code === Status.CANCELLED;
  }

  private settleWaiters(): void {
    const waiters = this.waiters.splice(0);
    for (const w of waiters) {
      if (this.failure && !this.isOurCancel(this.failure) && !this.failureReported) {
        this.failureReported = true;
        w.reject(this.failure);
      } else {
        w.resolve({ value: undefined, done: true });
      }
    }
  }

  private emitEnd(): void {
    if (this.endEmitted) return;
    this.endEmitted = true;
    // Deferred, so a listener added right after cancel() still hears it.
    process.nextTick(() => super.emit('end'));
  }
}
