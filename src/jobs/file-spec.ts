// How a job's child process reopens the file store: a plain, serialisable description sent over IPC
// (local directory, or S3-compatible object storage; S3 credentials come from the standard AWS
// environment variables, which job processes inherit, never from this spec).
import type { FileStore } from '../storage/types.ts';

export type FileStoreSpec =
  | { backend: 'local'; rootDir: string }
  | { backend: 's3'; bucket: string; region?: string; endpoint?: string; prefix?: string; forcePathStyle?: boolean; cacheDir?: string };

/** Loads only the chosen store's code: the AWS SDK costs a job process or an embedded server ~0.3 s and ~20 MB. */
export async function openFileStore(spec: FileStoreSpec): Promise<FileStore> {
  switch (spec.backend) {
    case 'local': {
      const { LocalFileStore } = await import('../storage/local.ts');
      return new LocalFileStore(spec.rootDir);
    }
    case 's3': {
      const { S3FileStore } = await import('../storage/s3.ts');
      return new S3FileStore(spec);
    }
  }
}
