/**
 * tsov-runtime's one-line failure: on stderr, and in the runtime's log file
 * (--log, JSON with --log-format json) where containerd looks for the reason
 * of a failed create.
 */
import fs from 'node:fs';
import type { RuntimeArgs } from './runtime-args';

export function reportFailure(args: RuntimeArgs, message: string): void {
  const line = `tsov-runtime: ${message.replace(/\n/g, '; ')}`;
  process.stderr.write(`${line}\n`);
  if (args.logFile === undefined) return;
  const time = new Date().toISOString();
  const entry = args.logFormat === 'json' ? JSON.stringify({ level: 'error', msg: line, time }) : `time="${time}" level=error msg="${line.replace(/"/g, '\\"')}"`;
  try {
    fs.appendFileSync(args.logFile, `${entry}\n`);
  } catch {
    // the log is a courtesy; stderr has the line
  }
}
