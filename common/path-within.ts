/** Whether an absolute, normalised path is dir itself or below it (a name prefix such as /srvx of /srv is not). */
export function isPathWithin(child: string, dir: string): boolean {
  return dir === '/' || child === dir || child.startsWith(`${dir}/`);
}
