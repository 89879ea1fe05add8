// edgecache's command line: serve, purge, inspect, reload, check-config, schema; exit codes (0 ok, 1 failed, 2 usage or config).
import cluster from 'node:cluster';
import { Command, CommanderError } from 'commander';
import { runWorker, WORKER_CONFIG_ENV } from '../control/workers.js';
import { addServeCommand } from './serve.js';
import { addPurgeCommand } from './purge.js';
import { addInspectCommand } from './inspect.js';
import { addReloadCommand } from './reload.js';
import { ConfigError, resolveConfig } from '../config/load.js';
import { configJsonSchemaText } from '../config/json-schema.js';
import { packageVersion } from './package-info.js';
import { EXIT_FAILED, EXIT_USAGE } from './run.js';

if (cluster.isWorker && process.env[WORKER_CONFIG_ENV]) {
  runWorker().catch((err: unknown) => {
    console.error(`edgecache worker: ${(err as Error).message}`);
    process.exit(1);
  });
} else {
  void runCli();
}

async function runCli(): Promise<void> {
  const program = new Command();
  // Before the subcommands are added, so they inherit it: commander's own errors (unknown option or command, missing
  // value or argument) become a CommanderError here instead of process.exit(1).
  program.exitOverride();
  program.name('edgecache').description('A CDN edge cache that gets CORS right').version(packageVersion());
  addServeCommand(program);
  addPurgeCommand(program);
  addInspectCommand(program);
  addReloadCommand(program);
  program.command('check-config')
    .description('validate a config file and exit (0 when valid)')
    .argument('<file>', 'config file (YAML or JSON)')
    .action((file: string) => {
      try {
        const c = resolveConfig(file, {});
        console.log(`${file}: valid (${c.zones.length} zone${c.zones.length === 1 ? '' : 's'})`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(`edgecache: ${err.message}`);
        process.exitCode = EXIT_USAGE;
      }
    });
  program.command('schema')
    .description("print the config file's JSON Schema (for editors; also shipped as schema/edgecache.schema.json)")
    .action(() => { process.stdout.write(configJsonSchemaText()); });

  await program.parseAsync(process.argv).catch((err: unknown) => {
    if (err instanceof CommanderError) {
      // Help and --version end with exit code 0; every other commander error is a usage error (already printed).
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    console.error(`edgecache: ${(err as Error).message}`);
    process.exitCode = EXIT_FAILED;
  });
}
