// supgrpc-client: a Node.js client for supgrpcd (supgrpc.v1.SupervisorService).
export { connect, SupgrpcClient, DEFAULT_CALL_TIMEOUT } from './client';
export type { ActionOptions, ConnectOptions, FollowOptions, Pem, ReadLogOptions, TlsOptions, WatchOptions } from './client';
export { Subscription } from './stream';
export { splitLines } from './lines';
export { SupgrpcError, Status, statusName, FAULT_METADATA_KEY } from './errors';
export { defaultAddress, defaultSocketPath, grpcTarget } from './address';
export { findProtoDir, PROTO_FILE } from './proto';
export type * from './types';
