/**
 * Loads tsov's .proto files from the repository's proto/ folder.
 */
import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';

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

export function loadProtoPackage(relativeFile: string): GrpcObject {
  const definition = protoLoader.loadSync(path.join(PROTO_ROOT, relativeFile), LOADER_OPTIONS);
  return loadPackageDefinition(definition);
}
