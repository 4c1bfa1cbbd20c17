/**
 * grpc-js client constructors for tsov's .proto services: the tests call the
 * daemons through grpc-js, a gRPC implementation independent of tsov's own.
 */
import path from 'node:path';
import { loadPackageDefinition as toGrpcObject, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_ROOT } from '../../common/proto-descriptors';

/** How tsov's .proto files were loaded before tsov had its own codecs (common/proto-codecs.ts), and how grpc-js clients load them. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  includeDirs: [PROTO_ROOT],
};

/** proto-loader's definitions of a .proto file below proto/. */
export function loadPackageDefinition(relativeFile: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(path.join(PROTO_ROOT, relativeFile), LOADER_OPTIONS);
}

export function loadProtoPackage(relativeFile: string): GrpcObject {
  return toGrpcObject(loadPackageDefinition(relativeFile));
}

/** The client constructor of a service by its full name, e.g. "tsov.helper.v1.Helper". */
export function serviceClientConstructor(relativeFile: string, serviceName: string): ServiceClientConstructor {
  let object: GrpcObject | ServiceClientConstructor = loadProtoPackage(relativeFile);
  for (const part of serviceName.split('.')) object = (object as GrpcObject)[part] as GrpcObject | ServiceClientConstructor;
  if (typeof object !== 'function') throw new Error(`${relativeFile} defines no service ${serviceName}`);
  return object;
}
