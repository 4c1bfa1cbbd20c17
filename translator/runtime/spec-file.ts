/**
 * <bundle>/config.json, read and replaced atomically. The caller's original
 * is kept as config.json.orig (once: a second create reads it from there), so
 * a failed start can put it back and people can diff what tsov changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import type { OciSpec } from '../spec/oci-spec';
import { TRANSLATED_ANNOTATION } from '../translate';

export class BundleSpec {
  readonly file: string;
  readonly originalFile: string;

  constructor(bundle: string) {
    this.file = path.join(bundle, 'config.json');
    this.originalFile = `${this.file}.orig`;
  }

  /** The caller's spec: config.json, or config.json.orig if config.json is already a translation. */
  readOriginal(): OciSpec {
    const current = this.parse(this.file);
    if (current.annotations?.[TRANSLATED_ANNOTATION] === 'true' && fs.existsSync(this.originalFile)) return this.parse(this.originalFile);
    return current;
  }

  /** Keeps the original beside it and replaces config.json (write, fsync, rename). */
  writeTranslated(original: OciSpec, translated: OciSpec): void {
    writeAtomically(this.originalFile, original);
    writeAtomically(this.file, translated);
  }

  /** Puts the original back (after a failed create). */
  restore(): void {
    if (fs.existsSync(this.originalFile)) fs.renameSync(this.originalFile, this.file);
  }

  private parse(file: string): OciSpec {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(`cannot read the OCI spec ${file}: ${(error as Error).message}`);
    }
    try {
      return JSON.parse(text) as OciSpec;
    } catch (error) {
      throw new InvalidArgumentError(`${file} is not valid JSON: ${(error as Error).message}`);
    }
  }
}

function writeAtomically(file: string, spec: OciSpec): void {
  const temporary = `${file}.tsov-${process.pid}`;
  const fd = fs.openSync(temporary, 'w', 0o644);
  try {
    fs.writeSync(fd, JSON.stringify(spec));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}
