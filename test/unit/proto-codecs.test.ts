/**
 * tsov's codecs (common/proto-codecs.ts: protobuf.js's light build on the
 * JSON descriptors the build writes) against proto-loader's, which grpc-js
 * clients use and which tsov used before: for every method of every service
 * tsov serves or calls, the same path and streaming, and for a message with
 * every field set (each scalar type, enums, nested messages, repeated fields,
 * maps, 64-bit integers) and for an empty one, the same bytes and the same
 * decoded object. A field added to a .proto without a rebuild, or a changed
 * conversion option, fails here.
 */
import test from 'ava';
import protobuf from 'protobufjs';
import type { MethodDefinition } from '@grpc/proto-loader';
import { loadServiceCodecs, SERVED_PROTOS } from '../../common/proto-codecs';
import { parseProtoFile } from '../../common/proto-descriptors';
import { loadPackageDefinition } from '../support/proto-clients';

const SCALAR_SAMPLES: Record<string, unknown> = {
  string: 'é/x\u0000y',
  bytes: Buffer.from([0, 1, 255]),
  bool: true,
  double: 1.5,
  float: 0.25,
  int32: -7,
  sint32: -8,
  sfixed32: -9,
  uint32: 4_000_000_000,
  fixed32: 4_000_000_001,
  int64: -(2 ** 40),
  sint64: -(2 ** 41),
  sfixed64: -(2 ** 42),
  uint64: 2 ** 43,
  fixed64: 2 ** 44,
};

/** A plain object with every field of the type set, nested messages to a depth of 3. */
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const message: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    let value: unknown;
    if (field.resolvedType instanceof protobuf.Enum) value = Object.keys(field.resolvedType.values).at(-1);
    else if (field.resolvedType instanceof protobuf.Type) {
      if (depth >= 3) continue;
      value = sample(field.resolvedType, depth + 1);
    } else value = SCALAR_SAMPLES[field.type];
    if (value === undefined) throw new Error(`no sample for ${type.fullName}.${field.name} of type ${field.type}`);
    if (field.map) message[field.name] = { 'key-1': value, 'key/2': value };
    else if (field.repeated) message[field.name] = [value, value];
    else message[field.name] = value;
  }
  return message;
}

for (const relativeFile of SERVED_PROTOS) {
  test(`${relativeFile}: tsov's codecs encode and decode as proto-loader's`, (t) => {
    const root = parseProtoFile(relativeFile);
    const loaded = loadPackageDefinition(relativeFile);
    const services = Object.entries(loaded).filter(([, value]) => !('format' in value));
    t.true(services.length > 0);
    for (const [serviceName, definition] of services) {
      const theirs = definition as Record<string, MethodDefinition<object, object>>;
      const ours = loadServiceCodecs(relativeFile, serviceName);
      t.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), serviceName);
      for (const [name, method] of Object.entries(ours)) {
        const other = theirs[name]!;
        t.is(method.path, other.path);
        t.is(method.requestStream, other.requestStream, method.path);
        t.is(method.responseStream, other.responseStream, method.path);
        const protoMethod = root.lookupService(serviceName).methods[name]!;
        const cases: Array<['request' | 'response', protobuf.Type]> = [
          ['request', protoMethod.resolvedRequestType!],
          ['response', protoMethod.resolvedResponseType!],
        ];
        for (const [side, type] of cases) {
          const serialize = side === 'request' ? method.requestSerialize : method.responseSerialize;
          const deserialize = side === 'request' ? method.requestDeserialize : method.responseDeserialize;
          const theirSerialize = side === 'request' ? other.requestSerialize : other.responseSerialize;
          const theirDeserialize = side === 'request' ? other.requestDeserialize : other.responseDeserialize;
          for (const message of [sample(type), {}]) {
            const label = `${method.path} ${side} ${type.fullName}${Object.keys(message).length === 0 ? ' (empty)' : ''}`;
            const bytes = serialize(message);
            t.true(Buffer.isBuffer(bytes), label);
            t.true(bytes.equals(Buffer.from(theirSerialize(message))), label);
            t.deepEqual(deserialize(bytes), theirDeserialize(bytes) as Record<string, unknown>, label);
          }
        }
      }
    }
  });
}
