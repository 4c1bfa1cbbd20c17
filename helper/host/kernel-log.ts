/**
 * The kernel's own explanation of a failed overlay mount. mount(8) only says
 * "wrong fs type, bad option, bad superblock"; the reason is a line starting
 * "overlayfs:" in the kernel log. A cursor is opened before an attempt (it
 * skips everything already logged) and read after it.
 */
import fs from 'node:fs';
import { errnoCode } from '../../common/errors';

export const KMSG_PATH = '/dev/kmsg';
const RECORD_BUFFER_BYTES = 8192;

/** The message text of one /dev/kmsg record ("prio,seq,usec,flags;text\n continuation"). */
export function kmsgRecordMessage(record: string): string {
  const separator = record.indexOf(';');
  const body = separator === -1 ? record : record.slice(separator + 1);
  const newline = body.indexOf('\n');
  return newline === -1 ? body : body.slice(0, newline);
}

/** Lines from overlayfs (the kernel module's prefix), in order. */
export function overlayLines(messages: readonly string[]): string[] {
  return messages.filter((message) => message.startsWith('overlayfs:'));
}

export class KernelLogCursor {
  private constructor(private fd: number | undefined) {}

  /** Opens the log and skips what is already there; a cursor that reads nothing when the log is unavailable. */
  static openAtEnd(file = KMSG_PATH): KernelLogCursor {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch {
      return new KernelLogCursor(undefined);
    }
    const cursor = new KernelLogCursor(fd);
    cursor.readMessages();
    return cursor;
  }

  get available(): boolean {
    return this.fd !== undefined;
  }

  /** Messages logged since the last read. */
  readMessages(): string[] {
    if (this.fd === undefined) return [];
    const buffer = Buffer.alloc(RECORD_BUFFER_BYTES);
    const messages: string[] = [];
    for (;;) {
      let length: number;
      try {
        length = fs.readSync(this.fd, buffer, 0, buffer.length, null);
      } catch (error) {
        const code = errnoCode(error);
        if (code === 'EPIPE') continue; // records were overwritten while we read; carry on from the oldest left
        if (code === 'EAGAIN') break;
        throw error;
      }
      if (length === 0) break;
      messages.push(kmsgRecordMessage(buffer.toString('utf8', 0, length)));
    }
    return messages;
  }

  /** overlayfs lines logged since the cursor was opened (or last read), then closes it. */
  finish(): string[] {
    const lines = overlayLines(this.readMessages());
    this.close();
    return lines;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
