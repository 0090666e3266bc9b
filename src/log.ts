import pino from 'pino';

/** The service's logger: JSON lines (pino). Fields first, message second: `log.info({ count }, 'pruned')`. */
export type Logger = pino.Logger;
export type LogLevel = pino.LevelWithSilent;

/**
 * Tokens travel in `Authorization`, the `pgfeed_token` cookie and the
 * `access_token` query parameter; none of them may reach a log line, whatever
 * object a caller passes.
 */
const REDACT = [
  'authorization',
  'cookie',
  'access_token',
  'token',
  '*.authorization',
  '*.cookie',
  '*.access_token',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** A JSON-lines logger on stdout (or `destination`), errors with their stack and cause. */
export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'pgfeed' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    destination,
  );
}
