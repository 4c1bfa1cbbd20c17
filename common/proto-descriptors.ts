/**
 * The .proto files tsov serves and calls, parsed at build time into
 * protobuf.js JSON descriptors (dist/proto/…/NAME.json) that the daemons and
 * tsov-runtime load with protobuf.js's light build (common/proto-codecs.ts).
 * Parsing .proto text at every start cost each daemon ~0.7 MiB of resident
 * memory (the full protobuf.js with its parser, proto-loader and the
 * descriptor.proto definitions it builds), and loading the helper's client
 * 0.26-0.28 s against 0.17-0.22 s now (measured when the descriptors came in).
 *
 * Field names stay as the .proto spells them (keepCase), as proto-loader
 * keeps them for the tests' grpc-js clients; test/unit/proto-codecs.test.ts
 * checks that the codecs built from these descriptors and proto-loader's
 * encode and decode the same bytes and objects.
 */
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { descriptorPath, SERVED_PROTOS } from './proto-codecs';

/** proto/ at the top of the repository; dist/common/ is two levels below it. */
export const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');

/** A .proto file and everything it imports, from proto/ (Google's well-known types from protobuf.js's own copies). */
export function parseProtoFile(relativeFile: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target));
  root.loadSync(relativeFile, { keepCase: true });
  root.resolveAll();
  return root;
}

/** Writes the JSON descriptor of every served .proto file (run by `npm run build`). */
export function writeDescriptors(): string[] {
  return SERVED_PROTOS.map((relativeFile) => {
    const output = descriptorPath(relativeFile);
    fs.mkdirSync(path.dirname(output), { recursive: true });
    fs.writeFileSync(output, `${JSON.stringify(parseProtoFile(relativeFile).toJSON())}\n`);
    return output;
  });
}
