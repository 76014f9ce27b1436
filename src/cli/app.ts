// The `beatsync` command line as a function: picks the command from the table and returns the exit code.
import { readFileSync } from 'node:fs';
import { ENGINE_VERSION } from '../pipeline/version.ts';
import { COMMANDS } from './commands.ts';
import type { CliIo } from './commands.ts';
import { EXIT_ERROR, EXIT_OK, reportError, t } from './output.ts';
import { BeatSyncError } from '../errors.ts';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

async function help(io: CliIo): Promise<string> {
  const L = io.lang;
  const lines = [t(L, 'Usage: beatsync <command> [options]', '用法：beatsync <命令> [选项]'), '', t(L, 'Commands:', '命令：')];
  for (const load of Object.values(COMMANDS)) {
    const c = await load();
    lines.push(`  ${c.name.padEnd(9)} ${L === 'zh-CN' ? c.summary.zh : c.summary.en}`, `            ${c.usage}`);
  }
  lines.push(
    '',
    t(L, 'Options:', '选项：'),
    '  --json       ' + t(L, 'machine-readable output (JSON / JSON lines on stdout)', '机器可读输出（stdout 上的 JSON / JSON 行）'),
    '  -h, --help   ' + t(L, 'this help; `beatsync <command> --help` lists a command\'s options with their defaults', '显示帮助；`beatsync <命令> --help` 列出该命令的全部选项及默认值'),
    '  --version    ' + t(L, 'print the version', '显示版本'),
    '',
    t(L, 'Exit codes: 0 ok, 2 error, 3 the music is not the song in the video.', '退出码：0 成功，2 出错，3 音乐与视频中的歌曲不符。'),
  );
  return lines.join('\n') + '\n';
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest.length > 0 && Object.hasOwn(COMMANDS, rest[0])) {
    // `beatsync help serve` = `beatsync serve --help`
    io.stdout.write((await COMMANDS[rest[0]]()).help(io.lang));
    return EXIT_OK;
  }
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    io.stdout.write(await help(io));
    return name === undefined ? EXIT_ERROR : EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`beatsync ${packageVersion()} (engine ${ENGINE_VERSION})\n`);
    return EXIT_OK;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    return reportError(new BeatSyncError('BAD_REQUEST', `unknown command "${name}" (try beatsync --help)`), io, rest.includes('--json'));
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.help(io.lang));
    return EXIT_OK;
  }
  return command.run(rest, io);
}

