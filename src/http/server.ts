import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

/** The HTTP server as a lifecycle part: listen on start; on stop refuse new requests and let open ones finish. */
export class HttpServer {
  private readonly server: http.Server;

  constructor(
    app: Express,
    private readonly options: {
      port: number;
      host: string;
      beforeClose: () => void;
      keepAliveMs?: number;
      /** listen()'s backlog: connections queued for accept (Node's default: 511). */
      backlog?: number;
    },
  ) {
    this.server = http.createServer(bornWithPrototypes(app), app);
    if (options.keepAliveMs !== undefined) {
      this.server.keepAliveTimeout = options.keepAliveMs;
      // Node answers 408 when a request's headers take longer than this; it must outlast the keep-alive.
      this.server.headersTimeout = Math.max(this.server.headersTimeout, options.keepAliveMs + 1000);
    }
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      const { port, host, backlog } = this.options;
      this.server.listen({ port, host, ...(backlog === undefined ? {} : { backlog }) }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** A URL clients on this machine can use. */
  get url(): string {
    const { host } = this.options;
    const local = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    return `http://${local.includes(':') ? `[${local}]` : local}:${this.port}`;
  }

  /**
   * Stops accepting, ends streams (`beforeClose`) so clients reconnect
   * elsewhere, and waits for open requests until `deadline` (ms since the
   * epoch); whatever is still open then is cut.
   */
  async stop(deadline: number): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.options.beforeClose();
    this.server.closeIdleConnections();
    const force = setTimeout(() => this.server.closeAllConnections(), Math.max(0, deadline - Date.now()));
    force.unref();
    await closed;
    clearTimeout(force);
  }
}

/**
 * Server options whose requests and responses are born with the app's
 * prototypes. express gives every request and response its own
 * (`Object.setPrototypeOf(req, app.request)`), and V8 does not share hidden
 * classes among objects whose prototype changed after birth: each property
 * express, the routers and the stream then add makes a hidden class for that
 * one object — about 2 KB for every open stream, which Node without express
 * does not pay. Born as subclasses whose prototypes are the app's own,
 * express's call changes nothing. If express ever stopped setting them, the
 * prototypes would still be the ones it means.
 */
function bornWithPrototypes(app: Express): http.ServerOptions {
  class Request extends http.IncomingMessage {}
  class Response extends http.ServerResponse {}
  adopt(Request.prototype, app.request);
  adopt(Response.prototype, app.response);
  app.request = Request.prototype as unknown as Express['request'];
  app.response = Response.prototype as unknown as Express['response'];
  return { IncomingMessage: Request, ServerResponse: Response } as http.ServerOptions;
}

/** `proto` takes the place of `from`: the same prototype and own properties (express's `app`). */
function adopt(proto: object, from: object): void {
  Object.setPrototypeOf(proto, Object.getPrototypeOf(from) as object);
  Object.defineProperties(proto, Object.getOwnPropertyDescriptors(from));
}
