// A loopback TCP proxy in front of a real service (Postgres, Redis), so a test can make that
// service vanish for the app and come back, without stopping the service for anyone else.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Rewrites `url` so that it points at the proxy instead of the service. */
  urlFor(url: string): string;
  /** Cuts every open connection and refuses new ones until `up()`. */
  down(): void;
  /**
   * Lets nothing through any more, in either direction, while every connection stays open
   * and new ones are accepted: the service has stopped answering. `up()` then ends those
   * connections, as a service that comes back after a long silence has forgotten them.
   */
  hang(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let state: 'up' | 'down' | 'hung' = 'up';
  const stopFlowing = (socket: net.Socket) => {
    socket.unpipe();
    socket.pause();
  };
  const server = net.createServer((client) => {
    if (state === 'down') {
      client.destroy();
      return;
    }
    if (state === 'hung') {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      client.on('error', () => client.destroy());
      stopFlowing(client);
      return;
    }
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    urlFor(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    down() {
      state = 'down';
      for (const socket of sockets) socket.destroy();
    },
    hang() {
      state = 'hung';
      for (const socket of sockets) stopFlowing(socket);
    },
    up() {
      if (state === 'hung') for (const socket of sockets) socket.destroy();
      state = 'up';
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function hostAndPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}
