// Every failed call becomes a SupgrpcError carrying the gRPC status code, the server's message
// and supervisor's fault name (trailing metadata `supgrpc-error`: BAD_NAME, NOT_RUNNING...).
import { Metadata, status as Status } from '@grpc/grpc-js';

export { Status };

/** Trailing metadata key with supervisor's fault name. */
export const FAULT_METADATA_KEY = 'supgrpc-error';

/** The name of a gRPC status code (`NOT_FOUND`...), or the number as text if unknown. */
export function statusName(code: number): string {
  const name = (Status as unknown as Record<number, string | undefined>)[code];
  return typeof name === 'string' ? name : String(code);
}

/** A call failed. Compare `code` with `Status.NOT_FOUND`... or `status` with 'NOT_FOUND'. */
export class SupgrpcError extends Error {
  /** The numeric gRPC status code (see the exported `Status` enum). */
  readonly code: Status;
  /** Its name: `NOT_FOUND`, `UNAUTHENTICATED`, `FAILED_PRECONDITION`... */
  readonly status: string;
  /** The server's message (gRPC status details). */
  readonly details: string;
  /** supervisor's fault name when the server sent one (`BAD_NAME`, `NOT_RUNNING`...). */
  readonly fault: string | null;
  /** The trailing metadata, if any. */
  readonly metadata: Metadata | null;

  constructor(code: Status, details: string, fault: string | null = null, metadata: Metadata | null = null) {
    super(`${statusName(code)}: ${details}`);
    this.name = 'SupgrpcError';
    this.code = code;
    this.status = statusName(code);
    this.details = details;
    this.fault = fault;
    this.metadata = metadata;
  }
}

interface ServiceErrorLike {
  code?: unknown;
  details?: unknown;
  message?: unknown;
  metadata?: unknown;
}

/** Wrap anything a grpc-js call failed with into a SupgrpcError. */
export function toSupgrpcError(err: unknown): SupgrpcError {
  if (err instanceof SupgrpcError) return err;
  const e = (err ?? {}) as ServiceErrorLike;
  const code = typeof e.code === 'number' ? (e.code as Status) : Status.UNKNOWN;
  const details =
    typeof e.details === 'string' ? e.details : typeof e.message === 'string' ? e.message : String(err);
  const metadata = e.metadata instanceof Metadata ? e.metadata : null;
  let fault: string | null = null;
  if (metadata) {
    const values = metadata.get(FAULT_METADATA_KEY);
    if (values.length > 0) fault = String(values[0]);
  }
  return new SupgrpcError(code, details, fault, metadata);
}
