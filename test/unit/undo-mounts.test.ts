/**
 * undoMounts (translator/runtime/container-mounts.ts), what tsov-runtime
 * create runs when anything fails after its first mount: every mount it made
 * is unmounted, newest first, unless the helper stops answering; then the
 * others are not tried (each would wait out the same time limit) and the
 * error says which were left.
 */
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DeadlineExceededError, NotFoundError } from '../../common/errors';
import type { HelperClient } from '../../helper/api/helper-client';
import { DEFAULT_TRANSLATION_POLICY } from '../../policy/translation-policy';
import { undoMounts } from '../../translator/runtime/container-mounts';

/** A helper client whose Unmount answers per id: undefined unmounts, an error fails. */
function fakeHelper(failures: Record<number, Error>): { client: HelperClient; asked: number[] } {
  const asked: number[] = [];
  const client = {
    unmount: async (id: number) => {
      asked.push(id);
      const failure = failures[id];
      if (failure !== undefined) throw failure;
      return { detached: false };
    },
  } as unknown as HelperClient;
  return { client, asked };
}

const policy = { ...DEFAULT_TRANSLATION_POLICY, stateDir: path.join(os.tmpdir(), 'tsov-undo-mounts-none') };

test('undoMounts: every mount, newest first; a refusal does not stop the others', async (t) => {
  const { client, asked } = fakeHelper({ 2: new NotFoundError('mount 2 is not recorded') });
  const error = await t.throwsAsync(undoMounts('c1', [1, 2, 3], policy, client));
  t.deepEqual(asked, [3, 2, 1]);
  t.is(error?.message, 'could not unmount what this call mounted: mount 2: mount 2 is not recorded');
});

test('undoMounts: a helper that lets one Unmount time out is not asked for the rest, and the error names them', async (t) => {
  const { client, asked } = fakeHelper({ 3: new DeadlineExceededError('tsov-helper did not answer Unmount within 30 s') });
  const error = await t.throwsAsync(undoMounts('c1', [1, 2, 3], policy, client));
  t.deepEqual(asked, [3], 'one call, not three time limits in a row');
  t.is(error?.message, 'could not unmount what this call mounted: mount 3: tsov-helper did not answer Unmount within 30 s; mounts 2, 1 not tried: tsov-helper is not answering');
});

test('undoMounts: nothing to say when every mount is undone', async (t) => {
  const { client, asked } = fakeHelper({});
  await t.notThrowsAsync(undoMounts('c1', [4, 5], policy, client));
  t.deepEqual(asked, [5, 4]);
});
