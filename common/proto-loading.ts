/**
 * Loads tsov's .proto files from the repository's proto/ folder: a service's
 * method definitions (paths and message codecs) for tsov's own servers and client, or a
 * grpc-js package for the tests' clients (test/support/proto-clients.ts). tsov needs only
 * proto-loader: the daemons and tsov-runtime do not load grpc-js.
 */
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';

/** proto/ at the top of the repository; dist/common/ is two levels below it. */
export const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  includeDirs: [PROTO_ROOT],
};

export function loadPackageDefinition(relativeFile: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(path.join(PROTO_ROOT, relativeFile), LOADER_OPTIONS);
}

/** The methods of one service, e.g. ("tsov/helper/v1/helper.proto", "tsov.helper.v1.Helper"). */
export function loadServiceDefinition(relativeFile: string, serviceName: string): protoLoader.ServiceDefinition {
  const service = loadPackageDefinition(relativeFile)[serviceName];
  if (service === undefined || 'format' in service) throw new Error(`${relativeFile} defines no service ${serviceName}`);
  return service as protoLoader.ServiceDefinition;
}
