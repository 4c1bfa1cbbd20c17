/**
 * Whether a process still exists as the same process: a pid plus its start
 * time (field 22 of /proc/PID/stat), so a reused pid does not count.
 */
import fs from 'node:fs';

export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and ')'; fields after the last ')' are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}
