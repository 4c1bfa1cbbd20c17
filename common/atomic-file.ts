/**
 * Replaces a file atomically: the content goes to a temporary file beside it,
 * is fsynced, and is renamed over the file. If any step fails the temporary
 * file is removed and the file is as it was.
 */
import fs from 'node:fs';

export function writeFileAtomically(file: string, content: string, mode: number): void {
  const temporary = `${file}.tsov-${process.pid}`;
  try {
    const fd = fs.openSync(temporary, 'w', mode);
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}
