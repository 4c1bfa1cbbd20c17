/** Starts something (a daemon, a private containerd), runs fn with it, and stops it whatever happens. */
export async function running<R extends { stop(): Promise<unknown> }, T>(started: Promise<R>, fn: (resource: R) => Promise<T>): Promise<T> {
  const resource = await started;
  try {
    return await fn(resource);
  } finally {
    await resource.stop();
  }
}
