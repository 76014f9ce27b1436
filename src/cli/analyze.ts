// `beatsync analyze <dance> <bgm> [--json]`: where the recording sits in the song, without rendering.
import { BeatSyncError } from '../errors.ts';
import type { Command, OptionSpec } from './commands.ts';
import { commandHelp, describeAnalysis, EXIT_OK, parseCommandArgs, progressDisplay, reportError } from './output.ts';

const OPTIONS: OptionSpec[] = [
  {
    name: 'json',
    help: { en: 'print the alignment as one JSON object on stdout (with `alternate`, the second place, or null)', zh: '在 stdout 上输出一个 JSON 对象（含 `alternate`：第二个位置，或 null）' },
    default: { en: 'off, i.e. a few lines for people', zh: '关，即输出几行说明' },
  },
];

export const command: Command = {
  name: 'analyze',
  summary: { en: 'find where the recording sits in the song (offset, drift, music span)', zh: '找出录像在歌曲中的位置（偏移、时钟漂移、音乐区间）' },
  usage: 'beatsync analyze <dance-video> <music> [--json]',
  help: (lang) => commandHelp(command, OPTIONS, lang),
  async run(args, io) {
    let json = args.includes('--json');
    try {
      const { values, positionals } = parseCommandArgs(args, OPTIONS);
      json = Boolean(values.json);
      if (positionals.length !== 2) throw new BeatSyncError('BAD_REQUEST', `expected 2 files, got ${positionals.length} (usage: ${command.usage})`);
      const [dance, bgm] = positionals;
      // Loaded here, not at the top: `--help` must not pay for the engine.
      const { analyzeFiles } = await import('../pipeline/analyze.ts');
      const progress = json ? null : progressDisplay(io);
      let analysis;
      try {
        analysis = await analyzeFiles(dance, bgm, { signal: io.signal, onProgress: progress?.update });
      } finally {
        progress?.done();
      }
      const a = analysis.alignment;
      if (json) {
        // The alignment's own fields stay at the top level (what scripts already read); the second place is added.
        io.stdout.write(JSON.stringify({ ...a, alternate: analysis.alternate }) + '\n');
        return EXIT_OK;
      }
      io.stdout.write(describeAnalysis(a, analysis.alternate, io.lang));
      return EXIT_OK;
    } catch (error) {
      return reportError(error, io, json);
    }
  },
};
