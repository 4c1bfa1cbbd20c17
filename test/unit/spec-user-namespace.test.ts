/**
 * The container's user namespace read from config.json as runc's Go reads it
 * (runtime-spec specs-go config.go: Linux.Namespaces, UIDMappings,
 * GIDMappings; LinuxIDMapping{ContainerID, HostID, Size uint32}; keys matched
 * as encoding/json folds them), through parseSpecDocument.
 */
import test from 'ava';
import { parseSpecDocument } from '../../translator/spec/spec-document';

const spec = (linux: unknown) => JSON.stringify({ ociVersion: '1.2.0', mounts: [], linux });
const userns = { namespaces: [{ type: 'pid' }, { type: 'user' }, { type: 'mount' }] };

test('no linux section, or no user namespace: none (mappings without one are the runtime\'s to refuse)', (t) => {
  t.is(parseSpecDocument(JSON.stringify({ mounts: [] }), 'config.json').userNamespace, undefined);
  t.is(parseSpecDocument(spec({ namespaces: [{ type: 'pid' }], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }), 'config.json').userNamespace, undefined);
  t.is(parseSpecDocument(spec(null), 'config.json').userNamespace, undefined);
});

test('a user namespace with its mappings, keys folded as Go folds them', (t) => {
  const document = parseSpecDocument(
    spec({ Namespaces: [{ TYPE: 'user', path: '/proc/42/ns/user' }], UIDMappings: [{ ContainerID: 0, HostID: 100000, Size: 65536 }], gidmappings: [{ containerid: 0, hostid: 200000, ſize: 10 }] }),
    'config.json',
  );
  t.deepEqual(document.userNamespace, { uid: [{ containerId: 0, hostId: 100000, size: 65536 }], gid: [{ containerId: 0, hostId: 200000, size: 10 }] });
});

const refused: Array<[string, unknown, RegExp]> = [
  ['a user namespace without mappings', userns, /has a user namespace but linux\.uidMappings or linux\.gidMappings is empty/],
  ['no gid mappings', { ...userns, uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }, /gidMappings is empty/],
  ['a negative id', { ...userns, uidMappings: [{ containerID: 0, hostID: -5, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }, /linux\.uidMappings\[0\]\.hostID must be a whole number from 0 to 4294967295/],
  ['an id past uint32', { ...userns, uidMappings: [{ containerID: 0, hostID: 4294967296, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }, /hostID must be a whole number/],
  ['an id as text', { ...userns, uidMappings: [{ containerID: '0', hostID: 1, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }, /containerID must be a whole number/],
  ['a mapping that is not an object', { ...userns, uidMappings: ['0:1:1'], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }, /linux\.uidMappings\[0\] must be an object/],
  ['two keys Go reads as one', { ...userns, uidMappings: [{ containerID: 0, hostID: 1, size: 1 }], UidMappings: [], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }, /which Go reads as one field "uidmappings"; keep one/],
  ['namespaces that are not an array', { namespaces: { type: 'user' } }, /linux\.namespaces must be an array/],
  ['a linux section that is not an object', ['user'], /linux must be an object/],
];
for (const [title, linux, message] of refused) {
  test(`refuses ${title}`, (t) => {
    t.throws(() => parseSpecDocument(spec(linux), 'config.json'), { message });
  });
}
