import pino, { type Logger } from 'pino';
import { type LogLevel, type LogMetadata, type Logger as TemporalLogger } from '@temporalio/common';

export type { Logger };

/** Fields that must never reach a log line, wherever they appear in a request or an object. */
const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.query.access_token',
  'req.query.apiKey',
  'req.query.api_key',
  'req.query.token',
  '*.apiKey',
  '*.secret',
  '*.password',
  'apiKeys',
  'webhookSecrets',
];

/** JSON lines to stdout (or `destination`, for tests), with secrets redacted. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'sms-orchestrator' },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

const pinoLevel: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Routes the Temporal SDK's own logs (worker, core, workflow and activity loggers) into our pino logger. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly logger: Logger) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.logger[pinoLevel[level]]({ ...meta, source: 'temporal' }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
