/**
 * A gRPC server on a unix socket with what every tsov service needs at its
 * edge: a request id and a child logger per call, one error→status mapping,
 * and a shutdown that lets in-flight calls finish.
 */
import {
  status,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { TsovError } from './errors';
import { toServiceError } from './grpc-status';
import type { Logger } from './logger';

export type WireRequest = Record<string, unknown>;

/** Called once per finished call (for metrics). */
export type CallObserver = (method: string, code: string, seconds: number) => void;

export interface UnixGrpcServerOptions {
  logger: Logger;
  maxReceiveBytes?: number;
  /** Field of the request named in log lines, e.g. "key". */
  logField?: string;
  /** Told about every finished call (metrics). */
  observer?: CallObserver;
}

export class UnixGrpcServer {
  private readonly server: Server;
  private readonly logger: Logger;
  private readonly logField: string | undefined;
  private readonly observer: CallObserver | undefined;
  private nextRequestId = 1;

  constructor(options: UnixGrpcServerOptions) {
    // channelz off: it costs every call some bookkeeping, and nothing here serves the channelz API.
    this.server = new Server({ 'grpc.max_receive_message_length': options.maxReceiveBytes ?? 16 * 1024 * 1024, 'grpc.enable_channelz': 0 });
    this.logger = options.logger;
    this.logField = options.logField;
    this.observer = options.observer;
  }

  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.server.addService(definition, implementation);
  }

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /** Stops accepting calls and resolves when in-flight calls finish (or the grace period ends). */
  shutdown(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn('in-flight calls did not finish in time; closing them', { graceMs });
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A unary handler: the reply (or a thrown TsovError) goes back to the caller. */
  unary(method: string, handler: (request: WireRequest) => unknown) {
    return (call: ServerUnaryCall<WireRequest, unknown>, callback: sendUnaryData<unknown>) => {
      const requestId = this.nextRequestId++;
      const started = process.hrtime.bigint();
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (reply) => {
            this.logSuccess(method, requestId, { ms: elapsedMs(started), ...this.logged(call.request) });
            this.observe(method, status.OK, started);
            callback(null, reply);
          },
          (error: unknown) => {
            this.logFailure(method, requestId, error, call.request);
            const reply = toServiceError(error);
            this.observe(method, reply.code ?? status.INTERNAL, started);
            callback(reply, null);
          },
        );
    };
  }

  /** A server-streaming handler that sends the messages it returns. */
  stream(method: string, handler: (request: WireRequest) => unknown[]) {
    return (call: ServerWritableStream<WireRequest, unknown>) => {
      const requestId = this.nextRequestId++;
      const started = process.hrtime.bigint();
      try {
        const messages = handler(call.request);
        for (const message of messages) call.write(message);
        this.logSuccess(method, requestId, { ms: elapsedMs(started), messages: messages.length });
        this.observe(method, status.OK, started);
        call.end();
      } catch (error: unknown) {
        this.logFailure(method, requestId, error, call.request);
        const reply = toServiceError(error);
        this.observe(method, reply.code ?? status.INTERNAL, started);
        call.emit('error', reply);
      }
    };
  }

  private observe(method: string, code: status, started: bigint): void {
    this.observer?.(method, status[code] ?? String(code), elapsedMs(started) / 1000);
  }

  private logged(request: WireRequest): Record<string, unknown> {
    return this.logField === undefined ? {} : { [this.logField]: request[this.logField] };
  }

  /**
   * Per-call lines are debug level. winston formats a line before its
   * transports drop it by level, so the level is checked here first: at the
   * default level a successful call costs no logging at all.
   */
  private logSuccess(method: string, requestId: number, fields: Record<string, unknown>): void {
    if (this.logger.isDebugEnabled()) this.logger.debug('ok', { rpc: method, request_id: requestId, ...fields });
  }

  private logFailure(method: string, requestId: number, error: unknown, request: WireRequest): void {
    const call = { rpc: method, request_id: requestId, ...this.logged(request) };
    if (error instanceof TsovError && error.code !== 'Internal') {
      if (this.logger.isDebugEnabled()) this.logger.debug('refused', { ...call, code: error.code, reason: error.message });
    } else {
      this.logger.error('failed', { ...call, error: error instanceof Error ? error.stack : String(error) });
    }
  }
}

function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}
