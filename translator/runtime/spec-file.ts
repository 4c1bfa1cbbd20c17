/**
 * <bundle>/config.json, read as the runtimes read it (spec/spec-document.ts)
 * and replaced atomically. The caller's original is kept, byte for byte, as
 * config.json.orig (once: a second create reads it from there), so a failed
 * start can put it back and people can diff what tsov changed. Every change
 * this call made to the bundle can be undone (undo()), so a failure leaves
 * the bundle as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../../common/errors';
import { writeFileAtomically } from '../../common/atomic-file';
import { TRANSLATED_ANNOTATION, type OciSpec } from '../spec/oci-spec';
import { parseSpecDocument, renderSpecDocument, type SpecDocument } from '../spec/spec-document';

/** Read a spec file the way the runtimes do; one-line InvalidArgumentError when it cannot be. */
export function readSpecDocument(file: string): SpecDocument {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the OCI spec ${file}: ${(error as Error).message}`);
  }
  return parseSpecDocument(text, file);
}

export class BundleSpec {
  readonly file: string;
  readonly originalFile: string;
  private wroteOriginal = false;
  private replacedSpec = false;

  constructor(bundle: string) {
    this.file = path.join(bundle, 'config.json');
    this.originalFile = `${this.file}.orig`;
  }

  /** The caller's spec: config.json, or config.json.orig if config.json is already a translation. */
  readOriginal(): SpecDocument {
    const current = readSpecDocument(this.file);
    if (current.spec.annotations?.[TRANSLATED_ANNOTATION] === 'true' && fs.existsSync(this.originalFile)) return readSpecDocument(this.originalFile);
    return current;
  }

  /** Keeps the original beside it and replaces config.json with the translation (each written, fsynced, renamed). */
  writeTranslated(original: SpecDocument, translated: OciSpec): void {
    const text = renderSpecDocument(original, translated);
    if (!fs.existsSync(this.originalFile)) {
      writeFileAtomically(this.originalFile, original.text, 0o644);
      this.wroteOriginal = true;
    }
    writeFileAtomically(this.file, text, 0o644);
    this.replacedSpec = true;
  }

  /** Puts back what this call changed: the original spec, and no config.json.orig if there was none before. */
  undo(): void {
    if (this.replacedSpec && fs.existsSync(this.originalFile)) {
      if (this.wroteOriginal) fs.renameSync(this.originalFile, this.file);
      else fs.copyFileSync(this.originalFile, this.file);
    } else if (this.wroteOriginal) {
      fs.rmSync(this.originalFile, { force: true });
    }
    this.wroteOriginal = false;
    this.replacedSpec = false;
  }
}
