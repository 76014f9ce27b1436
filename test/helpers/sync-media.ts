// A matching dance/song pair and a non-matching song, cut from real music: the dance video carries
// `danceSeconds` of the song starting 10 s into the song excerpt.
import { makeVideo, songExcerpt } from './media.ts';

export interface SyncMedia {
  dance: string;
  bgm: string;
  /** Another song: pairing it with `dance` must give NO_MATCH. */
  otherBgm: string;
}

export async function syncMedia(danceSeconds = 6, bgmSeconds = 20): Promise<SyncMedia> {
  const tag = `${danceSeconds}-${bgmSeconds}`;
  const danceSound = await songExcerpt(`sync-dance-${tag}.wav`, 'nexuiz-stairs.ogg', 40, danceSeconds);
  const dance = await makeVideo(`sync-dance-${tag}.mp4`, { seconds: danceSeconds, audio: { source: danceSound } });
  const bgm = await songExcerpt(`sync-bgm-${tag}.m4a`, 'nexuiz-stairs.ogg', 30, bgmSeconds, 'm4a');
  const otherBgm = await songExcerpt(`sync-other-${tag}.m4a`, 'muldjord-armygeddon.ogg', 30, bgmSeconds, 'm4a');
  return { dance, bgm, otherBgm };
}
