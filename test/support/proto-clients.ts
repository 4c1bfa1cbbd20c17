/**
 * grpc-js client constructors for tsov's .proto services: the tests call the
 * daemons through grpc-js, a gRPC implementation independent of tsov's own.
 */
import { loadPackageDefinition as toGrpcObject, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadPackageDefinition } from '../../common/proto-loading';

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
