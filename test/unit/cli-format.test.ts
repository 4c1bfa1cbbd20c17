/** The tsov CLI's tables and the helper's wire conversions. */
import test from 'ava';
import { formatMounts } from '../../cli/commands/mounts';
import { formatProbeReport } from '../../cli/commands/probe';
import { formatTable } from '../../cli/table';
import type { OverlayMountRequest } from '../../helper/api/mount-request';
import { mountRequestFromWire, mountRequestToWire, probeReportFromWire, probeReportToWire, type MountView } from '../../helper/api/wire';

test('tables pad every column but the last to its widest cell', (t) => {
  t.is(formatTable(['A', 'BB', 'C'], [['xxx', 'y', 'last cell'], ['', 'zzz', '']]), 'A    BB   C\nxxx  y    last cell\n     zzz');
});

test('mounts table', (t) => {
  const view: MountView = {
    id: 3,
    owner: 'c1',
    backend: 'memory',
    backendReason: '',
    lowers: ['/a', '/b'],
    upper: '',
    work: '',
    target: '/srv/m',
    options: '',
    state: 'mounted',
    createdAtMs: 0,
    memoryDirectory: '/var/lib/tsov-helper/memory/3',
  };
  t.is(formatMounts([view]), 'ID  OWNER  BACKEND  STATE    LOWERS  UPPER                                   TARGET\n3   c1     memory   mounted  2       (memory /var/lib/tsov-helper/memory/3)  /srv/m');
  t.is(formatMounts([]), 'no mounts (tsov-helper has none in its journal)');
});

test('probe table lists each check with yes/NO and the kernel lines of failed ones', (t) => {
  const text = formatProbeReport({
    directory: '/srv',
    device: 7,
    filesystem: 'xfs',
    filesystemMagic: 0x58465342,
    kernelRelease: '6.1.0',
    moduleParameters: { index: 'N' },
    upperChecks: [{ name: 'writable', ok: true, detail: 'ok', kernelLog: [] }],
    mountChecks: [{ name: 'mount:metacopy=on', ok: false, detail: 'mount failed: overlayfs: conflicting options', kernelLog: ['overlayfs: conflicting options'] }],
    fuseOverlayfs: { name: 'fuse-overlayfs', ok: false, detail: 'not installed', kernelLog: [] },
    probedAtMs: Date.UTC(2026, 0, 1),
    cached: true,
  });
  t.regex(text, /^filesystem: xfs \(magic 0x58465342, device 7\)$/m);
  t.regex(text, /^overlay:    index=N$/m);
  t.regex(text, /^probed:     2026-01-01T00:00:00.000Z \(cached; --refresh to probe again\)$/m);
  t.regex(text, /^upper  writable\s+yes\s+ok$/m);
  t.regex(text, /^mount  metacopy=on\s+NO\s+mount failed: overlayfs: conflicting options$/m);
  t.regex(text, /^kernel log of failed checks:\n  mount:metacopy=on: overlayfs: conflicting options$/m);
});

test('a mount request survives the wire; empty wire fields mean "not given"', (t) => {
  const request: OverlayMountRequest = {
    owner: 'c',
    lowers: ['/a', '/b'],
    upper: '/u',
    work: '/w',
    target: '/m',
    backend: 'kernel',
    choices: { index: 'off', redirectDir: 'nofollow', userxattr: true, volatile: true },
    memoryBytes: 2097152,
    ownerAlivePath: '/run/c',
    ownerPid: 42,
  };
  t.deepEqual(mountRequestFromWire(mountRequestToWire(request)), request);
  const bare = mountRequestFromWire({ owner: 'c', lowers: ['/a', '/b'], upper: '', work: '', target: '/m', backend: 'kernel', memory_bytes: 0, owner_pid: 0, choices: { index: '', userxattr: false } });
  t.deepEqual(bare, { owner: 'c', lowers: ['/a', '/b'], upper: undefined, work: undefined, target: '/m', backend: 'kernel', choices: {}, ownerAlivePath: undefined });
});

test('a probe report survives the wire', (t) => {
  const report = {
    directory: '/srv',
    device: 7,
    filesystem: 'ext4',
    filesystemMagic: 0xef53,
    kernelRelease: '6.1.0',
    moduleParameters: { index: 'N' },
    upperChecks: [{ name: 'writable', ok: true, detail: 'ok', kernelLog: [] }],
    mountChecks: [{ name: 'mount:overlay', ok: false, detail: 'x', kernelLog: ['overlayfs: y'] }],
    fuseOverlayfs: { name: 'fuse-overlayfs', ok: true, detail: 'z', kernelLog: [] },
    probedAtMs: 5,
    cached: false,
  };
  t.deepEqual(probeReportFromWire(probeReportToWire(report)), report);
});
