// Puts a local media file into a FileStore as an upload (data + meta.json), the way the upload
// routes leave it, so job tests can submit against real uploads without the HTTP layer.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { probeMedia } from '../../src/media/index.ts';
import { uploadDataKey, uploadMetaKey } from '../../src/storage/types.ts';
import type { FileStore, UploadMeta } from '../../src/storage/types.ts';

export async function storeUpload(files: FileStore, path: string, owner: string | null = null): Promise<UploadMeta> {
  const fileId = randomBytes(16).toString('base64url');
  const put = await files.put(uploadDataKey(fileId), createReadStream(path));
  const media = await probeMedia(await files.localPath(uploadDataKey(fileId)));
  const meta: UploadMeta = {
    fileId,
    owner,
    filename: basename(path),
    size: put.size,
    sha256: put.sha256,
    kind: media.kind,
    durationSeconds: media.durationSeconds,
    media,
    createdAt: Date.now(),
  };
  await files.put(uploadMetaKey(fileId), Readable.from([Buffer.from(JSON.stringify(meta))]));
  return meta;
}
