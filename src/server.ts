// Entry point: read the configuration, open the database and session store, serve, and shut
// down cleanly on SIGTERM/SIGINT.
import { createApp } from './web/app.js';
import { ConfigError, loadConfig } from './config.js';
import { listen } from './core/http-server.js';
import { createLogger } from './core/logger.js';
import { openServices } from './core/services.js';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, config.logFormat);
  if (config.session.secretIsEphemeral) {
    logger.warn('SESSION_SECRET is not set: a random one was made, so sessions end when the app restarts');
  }

  const services = await openServices(config, logger);
  const server = await listen(createApp({ config, logger, services }), config);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info({ url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}` }, 'serving');

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    const forced = setTimeout(() => {
      logger.error('requests did not finish in time; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    forced.unref();
    server.close(async (error) => {
      if (error) logger.warn({ err: error }, 'error while closing the HTTP server');
      await services.close();
      logger.info('stopped');
      clearTimeout(forced);
      process.exitCode = 0;
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  console.error('Start-up failed:', error instanceof Error ? error.message : error);
  process.exit(1);
});
