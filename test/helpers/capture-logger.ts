// A real pino logger whose JSON lines a test reads back (parsed), at the level the test asks for.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/observability/logger.js';

/** One parsed log line: pino's level number and message, and whatever fields the record had. */
export interface LogLine { level: number; msg: string; [field: string]: unknown }

export function captureLogs<L extends object = LogLine>(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): { logger: Logger; lines: L[] } {
  const lines: L[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as L);
      cb();
    },
  });
  return { logger: pino<never>({ level }, stream) as unknown as Logger, lines };
}
