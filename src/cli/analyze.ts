// `beatsync analyze <dance> <bgm> [--json]`: where the recording sits in the song, without rendering.
import { BeatSyncError } from '../errors.ts';
import { analyzeFiles } from '../pipeline/index.ts';
import type { Command } from './commands.ts';
import { EXIT_OK, parseCommandArgs, progressDisplay, reportError, t } from './output.ts';

export const command: Command = {
  name: 'analyze',
  summary: { en: 'find where the recording sits in the song (offset, drift, music span)', zh: '找出录像在歌曲中的位置（偏移、时钟漂移、音乐区间）' },
  usage: 'beatsync analyze <dance-video> <music> [--json]',
  async run(args, io) {
    let json = args.includes('--json');
    try {
      const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } });
      json = Boolean(values.json);
      if (positionals.length !== 2) throw new BeatSyncError('BAD_REQUEST', `expected 2 files, got ${positionals.length} (usage: ${command.usage})`);
      const [dance, bgm] = positionals;
      const progress = json ? null : progressDisplay(io);
      let analysis;
      try {
        analysis = await analyzeFiles(dance, bgm, { signal: io.signal, onProgress: progress?.update });
      } finally {
        progress?.done();
      }
      const a = analysis.alignment;
      if (json) {
        io.stdout.write(JSON.stringify(a) + '\n');
        return EXIT_OK;
      }
      const L = io.lang;
      io.stdout.write(
        [
          `${t(L, 'Offset', '偏移')}: ${a.offsetSeconds.toFixed(6)} s (${t(L, 'song time at the start of the video', '视频开头对应的歌曲时间')})`,
          `${t(L, 'Drift', '漂移')}: ${a.driftPpm.toFixed(1)} ppm`,
          `${t(L, 'Music in the video', '视频中的音乐')}: ${a.musicStart.toFixed(2)} s – ${a.musicEnd.toFixed(2)} s`,
          `${t(L, 'Confidence', '置信度')}: ${(a.confidence * 100).toFixed(0)}%`,
          ...(analysis.alternate ? [`${t(L, 'Alternative reading', '备选对齐')}: ${analysis.alternate.offsetSeconds.toFixed(6)} s`] : []),
        ].join('\n') + '\n',
      );
      return EXIT_OK;
    } catch (error) {
      return reportError(error, io, json);
    }
  },
};
