// Loads the contract (supgrpc/v1/supervisor.proto) at runtime with @grpc/proto-loader: no
// generated code to keep in sync. Where the .proto is looked for, first found wins:
//   1. the `protoDir` option of connect();
//   2. $SUPGRPC_PROTO_DIR;
//   3. dist/proto (copied there by `npm run build`, shipped by `npm pack`);
//   4. ../../proto of the repository this package sits in (client/node -> proto/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_FILE = 'supgrpc/v1/supervisor.proto';

// Longs as strings (converted to numbers by the wrapper), enums as names, defaults filled in,
// and the name of the set member of each oneof as a virtual field.
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The directories searched for supgrpc/v1/supervisor.proto, in order. */
export function protoDirCandidates(explicit?: string): string[] {
  const dirs: string[] = [];
  if (explicit) dirs.push(explicit);
  if (process.env.SUPGRPC_PROTO_DIR) dirs.push(process.env.SUPGRPC_PROTO_DIR);
  dirs.push(path.join(__dirname, 'proto'));
  dirs.push(path.resolve(__dirname, '..', '..', '..', 'proto'));
  return dirs;
}

/** The first directory holding supgrpc/v1/supervisor.proto. Throws when there is none. */
export function findProtoDir(explicit?: string): string {
  const dirs = protoDirCandidates(explicit);
  for (const dir of dirs) {
    if (fs.existsSync(path.join(dir, PROTO_FILE))) return dir;
  }
  throw new Error(`${PROTO_FILE} not found in: ${dirs.join(', ')} (run \`npm run build\`, or pass protoDir)`);
}

const cache = new Map<string, grpc.GrpcObject>();

/** The loaded `supgrpc.v1` package plus grpc.health.v1 (from the .proto in `dir`). */
export function loadProto(dir: string): grpc.GrpcObject {
  let loaded = cache.get(dir);
  if (!loaded) {
    const definition = protoLoader.loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [dir] });
    const health = protoLoader.fromJSON(HEALTH_PROTO_JSON as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
    loaded = grpc.loadPackageDefinition({ ...definition, ...health });
    cache.set(dir, loaded);
  }
  return loaded;
}

/** The SupervisorService client constructor. */
export function supervisorServiceClient(dir: string): grpc.ServiceClientConstructor {
  const loaded = loadProto(dir);
  return lookup(loaded, ['supgrpc', 'v1', 'SupervisorService']);
}

/** The grpc.health.v1.Health client constructor. */
export function healthClient(dir: string): grpc.ServiceClientConstructor {
  return lookup(loadProto(dir), ['grpc', 'health', 'v1', 'Health']);
}

function lookup(root: grpc.GrpcObject, names: string[]): grpc.ServiceClientConstructor {
  let node: unknown = root;
  for (const name of names) node = (node as Record<string, unknown>)[name];
  if (typeof node !== 'function') throw new Error(`${names.join('.')} missing from the loaded proto`);
  return node as grpc.ServiceClientConstructor;
}

// grpc.health.v1's Check (the standard health.proto, only what the client needs), as
// protobufjs JSON so no second .proto file has to be shipped.
const HEALTH_PROTO_JSON = {
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: {
                    ServingStatus: {
                      values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 },
                    },
                  },
                },
                Health: {
                  methods: {
                    Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};
