import test from 'ava';
import { componentLogger, createLogger, debugEnabled, LOG_LEVELS } from '../../common/logger';

test('debugEnabled answers what winston\'s isDebugEnabled does, at every level, for a component\'s logger too, and after a reload changes the level', (t) => {
  for (const level of LOG_LEVELS) {
    const logger = createLogger({ level, process: 'test', human: false });
    const component = componentLogger(logger, 'rpc');
    t.is(debugEnabled(logger), logger.isDebugEnabled(), level);
    t.is(debugEnabled(component), component.isDebugEnabled(), `${level}, component`);
    for (const next of LOG_LEVELS) {
      logger.level = next;
      t.is(debugEnabled(component), component.isDebugEnabled(), `${level} reloaded as ${next}, component`);
    }
  }
  t.true(debugEnabled(createLogger({ level: 'debug', process: 'test', human: false })));
});
