/** Go's GOARCH for Node's process.arch: what OCI image configs and containerd platforms name. Pure. */
const GOARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function goArch(arch: string = process.arch): string {
  return GOARCH[arch] ?? arch;
}
