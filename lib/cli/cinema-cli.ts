import type { DynamicModule, LogLevel, Type } from '@nestjs/common';
import { CommandFactory, CommandRunnerService } from 'nest-commander';
import { failed } from './cli-failure.js';
import { flushStdout } from './output.js';

/** What commander reports instead of exiting (help shown, unknown command, missing argument). */
interface CommanderExit extends Error {
  code: string;
  exitCode: number;
}

/** The part of commander's `Command` used here. */
interface CommanderCommand {
  commands: readonly CommanderCommand[];
  exitOverride(handler: (error: CommanderExit) => never): unknown;
}

/**
 * Runs the `cinema` command line in the given module (one that imports the application's module
 * and `CinemaCommandModule`), then closes it. A usage error (an unknown command or option, a
 * missing argument) sets exit code 2, help 0; a command's own failure sets 1 or 2. The
 * application is closed in every case (its runs rolled back, its pools ended), and what the
 * command printed is flushed, before this resolves; call `process.exit(process.exitCode)` after it
 * if something else keeps the process alive.
 */
export async function runCinemaCli(module: Type<unknown> | DynamicModule, options: { logger?: LogLevel[] | false } = {}): Promise<void> {
  const app = await CommandFactory.createWithoutRunning(module, {
    cliName: 'cinema',
    logger: options.logger ?? ['warn', 'error'],
    serviceErrorHandler: (error: Error) => {
      const exit = error as Partial<CommanderExit>;
      if (typeof exit.code === 'string' && exit.code.startsWith('commander.')) {
        // commander has already printed the help or the usage error.
        process.exitCode = exit.exitCode === 0 ? 0 : 2;
        return;
      }
      failed(error);
    },
  });
  try {
    // commander calls process.exit() on a usage error unless every command (subcommands
    // included: nest-commander overrides the root only) throws instead; the tree is built by now.
    const runner: unknown = app.get(CommandRunnerService);
    const root = (runner as { commander: CommanderCommand }).commander;
    const throwInstead = (command: CommanderCommand): void => {
      command.exitOverride((error) => {
        throw error;
      });
      command.commands.forEach(throwInstead);
    };
    throwInstead(root);
    await CommandFactory.runApplication(app);
  } finally {
    await app.close();
    await flushStdout();
  }
}
