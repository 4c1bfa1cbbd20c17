import test from 'ava';
import { connectionFailure } from '../../helper/api/helper-client';

test("an unreachable helper's reason is grpc-js's last error, without its empty resolution note", (t) => {
  t.is(connectionFailure('No connection established. Last error: Error: connect ENOENT /run/tsov/helper/helper.sock. Resolution note: '), 'connect ENOENT /run/tsov/helper/helper.sock');
  t.is(connectionFailure('No connection established. Last error: connect ECONNREFUSED /x.sock (2026-12-02T07:00:00.000Z). Resolution note: '), 'connect ECONNREFUSED /x.sock (2026-12-02T07:00:00.000Z)');
  t.is(connectionFailure('Connection dropped'), 'Connection dropped');
  t.is(connectionFailure(''), 'no connection');
});
