/** Reading a daemon's Prometheus endpoint on a unix socket, for tests. */
import http from 'node:http';

export function scrape(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: '/metrics' }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${response.statusCode}: ${body}`))));
      })
      .on('error', reject);
  });
}

/** The value of the first sample of `name` whose labels include `labels`; undefined when there is none. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const unlabelled = line.startsWith(`${name} `);
    if (!unlabelled && !line.startsWith(`${name}{`)) continue;
    const labelText = unlabelled ? '' : line.slice(name.length + 1, line.indexOf('}'));
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
