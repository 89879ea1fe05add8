// edgecache's command line: serve, purge, inspect, check-config.
import cluster from 'node:cluster';
import { Command } from 'commander';
import { runWorker, WORKER_CONFIG_ENV } from '../control/workers.js';
import { addServeCommand } from './serve.js';
import { addPurgeCommand } from './purge.js';
import { addInspectCommand } from './inspect.js';
import { ConfigError, resolveConfig } from '../config/load.js';

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
  program.name('edgecache').description('A CDN edge cache that gets CORS right').version('0.1.0');
  addServeCommand(program);
  addPurgeCommand(program);
  addInspectCommand(program);
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
        process.exitCode = 2;
      }
    });

  await program.parseAsync(process.argv).catch((err: unknown) => {
    console.error(`edgecache: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
