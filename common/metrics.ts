/**
 * Prometheus metrics for tsov's daemons (prom-client), served on an optional
 * HTTP endpoint: `host:port` or `unix:/path` (the systemd units allow only
 * unix sockets unless a drop-in widens RestrictAddressFamilies).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import v8 from 'node:v8';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { StartupError } from './errors';

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly rpcRequests: Counter<'method' | 'code'>;
  readonly rpcDuration: Histogram<'method'>;

  constructor(daemon: string) {
    this.registry.setDefaultLabels({ daemon });
    collectDefaultMetrics({ register: this.registry, prefix: 'tsov_' });
    this.rpcRequests = new Counter({ name: 'tsov_rpc_requests_total', help: 'gRPC calls served, by method and status code', labelNames: ['method', 'code'], registers: [this.registry] });
    this.rpcDuration = new Histogram({
      name: 'tsov_rpc_duration_seconds',
      help: 'gRPC call latency, by method',
      labelNames: ['method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [this.registry],
    });
    // prom-client's heap gauges give what V8 reserved and used, not what is resident: this one
    // is the part of the process's resident memory that is the main thread's JavaScript heap.
    this.gauge('tsov_nodejs_heap_resident_bytes', "V8 heap of the main thread resident in memory (part of tsov_process_resident_memory_bytes)", () => v8.getHeapStatistics().total_physical_size);
  }

  /** A gauge whose value is read at each scrape. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A counter whose value (never falling) is read at each scrape. */
  counter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** For UnixGrpcServer's call observer. */
  observeCall = (method: string, code: string, seconds: number): void => {
    this.rpcRequests.inc({ method, code });
    this.rpcDuration.observe({ method }, seconds);
  };
}

/** `host:port`, `:port` or `unix:/path` → what http.Server.listen takes. */
export function parseMetricsAddress(address: string): { path: string } | { host: string; port: number } {
  if (address.startsWith('unix:')) {
    const socketPath = address.slice('unix:'.length);
    if (!path.isAbsolute(socketPath)) throw new StartupError(`metrics address ${address}: the unix socket path must be absolute`);
    return { path: socketPath };
  }
  const match = /^(.*):(\d+)$/.exec(address);
  const port = Number(match?.[2]);
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StartupError(`metrics address ${JSON.stringify(address)} must be HOST:PORT (e.g. 127.0.0.1:9464) or unix:/absolute/path`);
  }
  return { host: match[1] === '' ? '127.0.0.1' : match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** Serves GET /metrics; resolves once listening. */
export async function serveMetrics(metrics: DaemonMetrics, address: string): Promise<http.Server> {
  const target = parseMetricsAddress(address);
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '/').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('tsov serves metrics at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  if ('path' in target) fs.rmSync(target.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new StartupError(`cannot serve metrics on ${address}: ${error.message}`)));
    if ('path' in target) server.listen(target.path, resolve);
    else server.listen(target.port, target.host, resolve);
  });
  return server;
}
