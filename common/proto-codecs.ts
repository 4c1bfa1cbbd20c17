/**
 * A gRPC service's methods with their message codecs, built from the JSON
 * descriptor the build wrote (common/proto-descriptors.ts) by protobuf.js's
 * light build, which has no .proto parser. The codecs do what proto-loader's
 * do with the options below (its createSerializer/createDeserializer in
 * @grpc/proto-loader/build/src/index.js): fromObject then encode, decode then
 * toObject.
 */
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs/light';

/** The services tsov's own gRPC server and client speak. */
export const SERVED_PROTOS = ['containerd/services/snapshots/v1/snapshots.proto', 'tsov/helper/v1/helper.proto', 'grpc/health/v1/health.proto'] as const;

export type ServedProto = (typeof SERVED_PROTOS)[number];

/** dist/proto/…/NAME.json: where the build writes a descriptor; dist/common/ is one level below dist/. */
export function descriptorPath(relativeFile: ServedProto): string {
  return path.resolve(__dirname, '..', 'proto', relativeFile.replace(/\.proto$/, '.json'));
}

/** proto-loader's options as tsov used them: 64-bit integers as numbers, enums by name, every field present. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, arrays: true, objects: true };

export interface MethodCodec {
  /** /package.Service/Method */
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(message: object): Buffer;
  requestDeserialize(bytes: Buffer): Record<string, unknown>;
  responseSerialize(message: object): Buffer;
  responseDeserialize(bytes: Buffer): Record<string, unknown>;
}

/** Method name → its codec. */
export type ServiceCodecs = Record<string, MethodCodec>;

function serializer(type: protobuf.Type): (message: object) => Buffer {
  return (message) => {
    const bytes = type.encode(type.fromObject(message as Record<string, unknown>)).finish();
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => Record<string, unknown> {
  return (bytes) => type.toObject(type.decode(bytes), TO_OBJECT);
}

function readDescriptor(relativeFile: ServedProto): protobuf.INamespace {
  const file = descriptorPath(relativeFile);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}, the build's descriptor of proto/${relativeFile} (${(error as Error).message}): run \`npm run build\``);
  }
  return JSON.parse(text) as protobuf.INamespace;
}

/** The methods of one service, e.g. ("tsov/helper/v1/helper.proto", "tsov.helper.v1.Helper"). */
export function loadServiceCodecs(relativeFile: ServedProto, serviceName: string): ServiceCodecs {
  const root = protobuf.Root.fromJSON(readDescriptor(relativeFile));
  const service = root.lookupService(serviceName);
  const codecs: ServiceCodecs = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    codecs[method.name] = {
      path: `/${serviceName}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
    };
  }
  return codecs;
}
