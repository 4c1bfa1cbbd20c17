/** The helper's bound on an overlay's mountinfo line and the mount way it picks (helper/api/mountinfo-line.ts). */
import test from 'ava';
import { descriptorMountLineBytes, GO_SCANNER_LINE_LIMIT, mountApiForLine } from '../../helper/api/mountinfo-line';

test('descriptorMountLineBytes: each lower as lowerdir+=PATH, upper and work, the mount point and source, escapes counted, room for the rest', (t) => {
  const base = descriptorMountLineBytes({ lowers: [] }, '', '');
  t.is(base, 1024, 'the other fields');
  t.is(descriptorMountLineBytes({ lowers: ['/l'] }, '', '') - base, 'lowerdir+=/l,'.length);
  t.is(descriptorMountLineBytes({ lowers: ['/l', '/m'], upper: '/u', work: '/w' }, '/t', 'tsov-m1') - base, 'lowerdir+=/l,lowerdir+=/m,upperdir=/u,workdir=/w,'.length + '/t'.length + 'tsov-m1'.length);
  t.is(descriptorMountLineBytes({ lowers: ['/a b'] }, '', '') - base, 'lowerdir+=/a\\040b,'.length, 'a space as \\040');
  t.is(descriptorMountLineBytes({ lowers: ['/a:b,c'] }, '', '') - base, 'lowerdir+=/a\\:b\\,c,'.length, "overlay's escapes");
});

test('mountApiForLine: the way asked, unless the line could reach 64 KiB; then the legacy way', (t) => {
  type Api = Parameters<typeof mountApiForLine>[0];
  const table: Array<[Api, number, Api]> = [
    ['auto', 1000, 'auto'],
    ['auto', GO_SCANNER_LINE_LIMIT - 1, 'auto'],
    ['auto', GO_SCANNER_LINE_LIMIT, 'legacy'],
    ['auto', 200_000, 'legacy'],
    ['legacy', 1000, 'legacy'],
    ['legacy', 200_000, 'legacy'],
  ];
  for (const [api, bytes, expected] of table) t.is(mountApiForLine(api, bytes), expected, `${api}, ${bytes} bytes`);
});
