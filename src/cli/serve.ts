// `beatsync serve`: opens the embedded job system, builds the HTTP server, listens, and shuts down gracefully
// on SIGTERM/SIGINT (stop accepting, let running jobs finish within the grace period, close).
// Only the option parsers are imported up front: the server (Fastify), the job backends (BullMQ, ioredis),
// the S3 client and the logger are loaded once `serve` has valid options and starts, so `--help` and
// `beatsync --help` (which reads this module for its one-line summary) stay fast.
import { toBeatSyncError } from '../errors.ts';
import type { Command } from './commands.ts';
import { configHelp, describeConfig, loadServerConfig } from '../server/config.ts';
import { dataDirOf, describeScale, jobSystemOptions, parseScaleOptions, scaleHelp } from './scale-options.ts';
import type { ScaleOptions } from './scale-options.ts';

export const SERVE_USAGE = `Usage: beatsync serve [options]

Starts the BeatSync HTTP service with the embedded job system and local storage under the data directory.
Each option's default is in parentheses; every option can also be given as the environment variable in brackets.

${configHelp()}
  --${'help, -h'.padEnd(22)} print this help and exit

Several machines (roles share Redis and S3-compatible storage):
${scaleHelp()}
`;

/** Runs until a signal; resolves with the process exit code. */
export async function serve(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  let config;
  let scale: ScaleOptions;
  try {
    const parsed = parseScaleOptions(argv, process.env, dataDirOf(argv, process.env));
    scale = parsed.options;
    config = await loadServerConfig({ argv: parsed.rest, env: process.env });
  } catch (error) {
    process.stderr.write(`beatsync serve: ${toBeatSyncError(error).detail ?? String(error)}\n\n${SERVE_USAGE}`);
    return 2;
  }
  const [{ pino }, { openJobSystem }, { buildServer, loggerOptions }] = await Promise.all([import('pino'), import('../jobs/index.ts'), import('../server/app.ts')]);
  const log = pino(loggerOptions(config));
  process.stdout.write(`BeatSync configuration:\n${describeConfig(config)}\n${describeScale(scale)}\n`);

  const retentionMs = config.retentionSeconds * 1000;
  const system = await openJobSystem({
    dataDir: config.dataDir,
    concurrency: config.concurrency,
    ...jobSystemOptions(scale),
    retention: { inputsMs: retentionMs, outputsMs: retentionMs },
    minFreeDiskBytes: config.minFreeDisk.jobsBytes,
    redisTimeoutMs: config.redisTimeoutMs,
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  if (scale.role === 'worker') {
    const { runWorkerNode } = await import('./worker-node.ts');
    const workerLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => log[level](fields ?? {}, message);
    return runWorkerNode(system, { nodeId: scale.nodeId, healthPort: scale.healthPort, host: config.host, graceMs: config.shutdownGraceMs, access: { publicOps: config.publicOps, adminToken: config.adminToken } }, workerLog);
  }
  const { stopOnSignal } = await import('./stop-on-signal.ts');
  const rateLimitRedis = scale.backend === 'redis' && scale.redisUrl ? { url: scale.redisUrl, prefix: scale.redisPrefix } : undefined;
  const app = await buildServer(config, { system, logger: log, rateLimitRedis });
  // Every node's metrics carry its id, so Prometheus can tell (and sum) them.
  app.metrics.registry.setDefaultLabels({ node: scale.nodeId });
  try {
    await system.start();
    const address = await app.listen({ port: config.port, host: config.host });
    process.stdout.write(`BeatSync listening on ${address}\n`);
  } catch (error) {
    process.stderr.write(`beatsync serve: cannot start: ${(error as Error).message}\n`);
    await app.close().catch(() => undefined);
    await system.close().catch(() => undefined);
    return 1;
  }

  return stopOnSignal(async (signal) => {
    log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: no new requests, running jobs get the grace period');
    // New connections are refused at once; open ones (SSE streams, uploads) are cut after the grace period.
    const closing = app.close();
    const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs);
    try {
      await system.stop({ graceMs: config.shutdownGraceMs });
      await closing;
      await system.close();
      log.info('stopped');
    } finally {
      clearTimeout(cut);
    }
  }, {
    onSecondSignal: (signal) => log.warn({ signal }, 'second signal: exiting now'),
    onError: (error) => log.error({ err: error }, 'shutdown failed'),
  });
}

export const command: Command = {
  name: 'serve',
  summary: { en: 'run the HTTP service (uploads, jobs, downloads, web page)', zh: '运行 HTTP 服务（上传、任务、下载、网页）' },
  usage: 'beatsync serve [--port 8080] [--data-dir ./data] [--concurrency N] … (beatsync serve --help for all options)',
  help: () => SERVE_USAGE,
  run: (args) => serve(args),
};

// Runnable on its own too (`node src/cli/serve.ts --port 0`), as the tests and the deployment units do.
if (import.meta.main) process.exit(await serve(process.argv.slice(2)));
