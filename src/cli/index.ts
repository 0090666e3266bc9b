#!/usr/bin/env node
/**
 * The `pgfeed` command: start | demo | migrate | token | drop-slot. A user's mistake (an
 * unknown command or option, a bad setting) is one line on stderr and exit
 * code 2; a failure at run time is one line and exit code 1. No stack traces.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../config';
import { type Command, UsageError } from './command';
import { dropSlotCommand } from './drop-slot';
import { withEnvFile } from './env-file';
import { migrateCommand } from './migrate';
import { demoCommand, startCommand } from './start';
import { tokenCommand } from './token';

const COMMANDS: Record<string, Command> = {
  start: startCommand,
  demo: demoCommand,
  migrate: migrateCommand,
  token: tokenCommand,
  'drop-slot': dropSlotCommand,
};

function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../package.json') as { version: string }).version;
}

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    'pgfeed — PostgreSQL changes as live, resumable Server-Sent Event streams',
    '',
    'usage: pgfeed <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `pgfeed <command> --help` for a command. Settings come from the environment (`pgfeed start --help` lists them).',
    '',
  ].join('\n');
}

/** Runs one command line (without `node` and the script); resolves with the exit code. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(overview());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})`);
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({
        args: rest,
        options: { ...command.options, help: { type: 'boolean', short: 'h' } },
        allowPositionals: false,
        strict: true,
      }));
    } catch (error) {
      // Node's messages carry a hint about `--`; the first sentence says it all.
      throw new UsageError(
        String((error as Error).message)
          .split('. ')[0]!
          .replace(/^\w/, (c) => c.toLowerCase()),
      );
    }
    if (values.help) {
      process.stdout.write(`${command.usage.trim()}\n`);
      return 0;
    }
    return await command.run(values, withEnvFile(env));
  } catch (error) {
    if (error instanceof UsageError) {
      const hint = command ? `see pgfeed ${name} --help` : 'see pgfeed --help';
      process.stderr.write(`pgfeed${command ? ` ${name}` : ''}: ${error.message} (${hint})\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    process.stderr.write(`pgfeed ${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    // `start` and `demo` keep running (they resolve with -1) and exit from their signal handlers.
    if (code >= 0) process.exit(code);
  });
}
