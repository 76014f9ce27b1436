// How a job's child process reopens the file store: a plain, serialisable description sent over IPC
// (local directory, or S3-compatible object storage; S3 credentials come from the standard AWS
// environment variables, which job processes inherit, never from this spec).
import { LocalFileStore } from '../storage/local.ts';
import { S3FileStore } from '../storage/s3.ts';
import type { FileStore } from '../storage/types.ts';

export type FileStoreSpec =
  | { backend: 'local'; rootDir: string }
  | { backend: 's3'; bucket: string; region?: string; endpoint?: string; prefix?: string; forcePathStyle?: boolean; cacheDir?: string };

export function openFileStore(spec: FileStoreSpec): FileStore {
  switch (spec.backend) {
    case 'local':
      return new LocalFileStore(spec.rootDir);
    case 's3':
      return new S3FileStore(spec);
  }
}
