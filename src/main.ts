import { loadConfigOrExit, readDotEnv } from './config.js';
import { describeSystemError, StartupError } from './shared/errors.js';
import { createLogger } from './shared/logger.js';
import { startService, type RunningService } from './service.js';

const config = loadConfigOrExit(() => ({ ...readDotEnv('.env'), ...process.env }));

const logger = createLogger(config.LOG_LEVEL);
let service: RunningService;
try {
  service = await startService(config, logger);
} catch (error) {
  // One line an operator can act on (port in use, database not writable, ...), exit code 1.
  const message = error instanceof StartupError ? error.message : `cannot start: ${describeSystemError(error)}`;
  process.stderr.write(`gatewatch: ${message}\n`);
  process.exit(1);
}

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info('stopping', { signal });
  const force = setTimeout(() => {
    logger.error('did not stop in time; exiting');
    process.exit(1);
  }, 10_000);
  force.unref();
  service.stop().then(
    () => {
      logger.info('stopped');
      process.exit(0);
    },
    (error) => {
      logger.error('stop failed', { error: String(error) });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
