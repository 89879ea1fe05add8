// `edgecache reload`: asks a running edge, through its admin API (POST /reload, a token for every zone), to re-read its
// config file and apply it; prints what changed, or why the config was refused (then exits 1, the old config running).
import type { Command } from 'commander';
import { addAdminTargetOptions, postAdmin, reportFailure, resolveAdminTarget, type AdminTargetFlags } from './admin-client.js';
import type { ReloadReport } from '../edge/reload.js';
import { EXIT_FAILED, printable, runCli } from './run.js';

const list = (a: readonly string[] | undefined): string => (a && a.length > 0 ? a.map((s) => printable(String(s))).join(', ') : 'none');

export function addReloadCommand(program: Command): Command {
  const cmd = program
    .command('reload')
    .description('re-read the running edge\'s config file and apply it without a restart (as SIGHUP does), and print the outcome');
  addAdminTargetOptions(cmd);
  cmd.action(async (flags: AdminTargetFlags, self: Command) => {
    await runCli(self, async (io) => {
      const reply = await postAdmin<ReloadReport>(resolveAdminTarget(flags), 'reload', {});
      const r = reply.envelope?.result;
      if (reply.status !== 200 || reply.envelope?.success !== true || typeof r !== 'object' || r === null) {
        reportFailure(io, 'reload', reply);
        return EXIT_FAILED;
      }
      io.out('reloaded');
      io.out(`  zones added: ${list(r.zones?.added)}; changed: ${list(r.zones?.changed)}; removed: ${list(r.zones?.removed)}`);
      io.out(`  cached entries dropped (key rules changed): ${list(r.droppedZones)}`);
      if (Array.isArray(r.restartRequired) && r.restartRequired.length > 0) io.out(`  not applied, need a restart: ${list(r.restartRequired)}`);
      for (const p of Array.isArray(r.problems) ? r.problems : []) io.err(`  certificate not reloaded (${printable(String(p.cert))}): ${printable(String(p.message))}`);
      return 0;
    });
  });
  return cmd;
}
