/**
 * The tests' side of raw HTTP/2: frames read off a socket as they arrive, and
 * a wait for a condition on them (used to drive tsov's HTTP/2 server and
 * client frame by frame).
 */
import type net from 'node:net';
import { CLIENT_PREFACE } from '../../common/http2/frames';

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export interface FrameReader {
  frames: Frame[];
  /** Resolves when done() holds; throws after 5 s naming what it waited for and the frames seen. */
  until(done: () => boolean, what: string): Promise<void>;
  isEnded(): boolean;
}

/** Collects the frames the peer sends on socket; expectPreface: the peer is a client, whose preface comes first. */
export function readFrames(socket: net.Socket, expectPreface = false): FrameReader {
  const frames: Frame[] = [];
  let buffered = Buffer.alloc(0);
  let prefaceLeft = expectPreface ? CLIENT_PREFACE.length : 0;
  let ended = false;
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const skipped = Math.min(prefaceLeft, buffered.length);
    buffered = buffered.subarray(skipped);
    prefaceLeft -= skipped;
    while (buffered.length >= 9 && buffered.length >= 9 + buffered.readUIntBE(0, 3)) {
      const length = buffered.readUIntBE(0, 3);
      frames.push({ type: buffered[3]!, flags: buffered[4]!, streamId: buffered.readUInt32BE(5), payload: buffered.subarray(9, 9 + length) });
      buffered = buffered.subarray(9 + length);
    }
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('close', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('error', () => undefined);
  const until = async (done: () => boolean, what: string) => {
    const deadline = Date.now() + 5000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(frames.map((f) => [f.type, f.flags, f.streamId]))}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  return { frames, until, isEnded: () => ended };
}
