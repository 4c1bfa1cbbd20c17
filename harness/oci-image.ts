/**
 * Builds small OCI image archives (for tests, the demo and benchmarks) from busybox-static: a base layer
 * with busybox and its applet links, then layers described as file operations
 * (files, OCI whiteouts `.wh.<name>`, opaque directories `.wh..wh..opq`).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { goArch } from '../common/go-platform';

export const BUSYBOX = '/bin/busybox';

export type LayerEntry =
  | { file: string; content: string }
  | { dir: string }
  | { whiteout: string }
  | { opaque: string };

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

function sha256(data: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}

class LayoutWriter {
  readonly blobs: string;

  constructor(readonly dir: string) {
    this.blobs = path.join(dir, 'blobs', 'sha256');
    fs.mkdirSync(this.blobs, { recursive: true });
  }

  add(mediaType: string, data: Buffer): Descriptor {
    const digest = sha256(data);
    fs.writeFileSync(path.join(this.blobs, digest.slice('sha256:'.length)), data);
    return { mediaType, digest, size: data.length };
  }
}

function tarDirectory(dir: string): Buffer {
  return execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', dir, '-cf', '-', '.'], {
    maxBuffer: 256 * 1024 * 1024,
  });
}

function baseLayer(workDir: string): string {
  return buildBusyboxRootfs(path.join(workDir, 'layer-base'));
}

/** A root filesystem of busybox-static and its applet links (the base layer; also a runc bundle's rootfs). */
export function buildBusyboxRootfs(dir: string): string {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const applet of applets) fs.symlinkSync('busybox', path.join(dir, 'bin', applet));
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'root']) fs.mkdirSync(path.join(dir, d));
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  return dir;
}

function entryLayer(workDir: string, index: number, entries: readonly LayerEntry[]): string {
  const dir = path.join(workDir, `layer-${index}`);
  fs.mkdirSync(dir, { recursive: true });
  const inLayer = (p: string) => {
    const target = path.join(dir, p);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    return target;
  };
  for (const entry of entries) {
    if ('file' in entry) fs.writeFileSync(inLayer(entry.file), entry.content);
    else if ('dir' in entry) fs.mkdirSync(inLayer(entry.dir), { recursive: true });
    else if ('whiteout' in entry) fs.writeFileSync(inLayer(path.join(path.dirname(entry.whiteout), `.wh.${path.basename(entry.whiteout)}`)), '');
    else fs.writeFileSync(inLayer(path.join(entry.opaque, '.wh..wh..opq')), '');
  }
  return dir;
}

/**
 * Writes an OCI image archive (a tar of an OCI layout) named `name` (a full
 * reference such as docker.io/tsov/test:8) and returns its path.
 */
/** The image's default command (the config's Cmd), /bin/sh unless given (a pause-like image: ['/bin/sleep', 'infinity']). */
export function buildImageArchive(workDir: string, name: string, layers: ReadonlyArray<readonly LayerEntry[]>, cmd: readonly string[] = ['/bin/sh']): string {
  const layout = new LayoutWriter(path.join(workDir, 'layout'));
  const layerDirs = [baseLayer(workDir), ...layers.map((entries, i) => entryLayer(workDir, i + 1, entries))];
  const layerDescriptors: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const dir of layerDirs) {
    const tar = tarDirectory(dir);
    const descriptor = layout.add('application/vnd.oci.image.layer.v1.tar', tar);
    layerDescriptors.push(descriptor);
    diffIds.push(descriptor.digest);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const architecture = goArch();
  const config = layout.add(
    'application/vnd.oci.image.config.v1+json',
    Buffer.from(JSON.stringify({
      architecture,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: cmd, WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: diffIds },
    })),
  );
  const manifest = layout.add(
    'application/vnd.oci.image.manifest.v1+json',
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: layerDescriptors })),
  );
  const tag = name.slice(name.lastIndexOf(':') + 1);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...manifest, platform: { architecture, os: 'linux' }, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag } }],
  };
  fs.writeFileSync(path.join(layout.dir, 'index.json'), JSON.stringify(index));
  fs.writeFileSync(path.join(layout.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const archive = path.join(workDir, `${tag}.tar`);
  execFileSync('tar', ['-C', layout.dir, '-cf', archive, '.']);
  fs.rmSync(layout.dir, { recursive: true, force: true });
  return archive;
}
