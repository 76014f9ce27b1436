// How a job's child process reopens the file store: a plain, serialisable description sent over IPC
// (object storage will add its own variant with bucket and endpoint).
import { LocalFileStore } from '../storage/local.ts';
import type { FileStore } from '../storage/types.ts';

export type FileStoreSpec = { backend: 'local'; rootDir: string };

export function openFileStore(spec: FileStoreSpec): FileStore {
  switch (spec.backend) {
    case 'local':
      return new LocalFileStore(spec.rootDir);
  }
}
