// The two file slots of the "new video" page, kept outside the view so uploads go on while the page
// re-renders (language switch, navigation) and the chosen File objects stay available to the result page.
import { envelopeOfFile } from './alignment.ts';
import { ApiError, getUpload } from './api.ts';
import type { UploadInfo } from './api.ts';
import type { FileEnvelope } from './envelope.ts';
import { saveEnvelope, savedEnvelope, savedUpload, saveUpload } from './store.ts';
import type { SavedUpload } from './store.ts';
import { TusUpload } from './tus.ts';
import type { Slot, UploadState } from './tus.ts';
import { holdWakeLock } from './wakelock.ts';

export interface SlotModel {
  upload: TusUpload | null;
  state: UploadState | null;
  /** An upload from before a reload: finished (fileId) or waiting for the same file to be picked again. */
  restored: SavedUpload | null;
  restoredInfo: UploadInfo | null;
}

const slots: Record<Slot, SlotModel> = {
  dance: { upload: null, state: null, restored: savedUpload('dance'), restoredInfo: null },
  bgm: { upload: null, state: null, restored: savedUpload('bgm'), restoredInfo: null },
};
const listeners = new Set<() => void>();
/** Files picked in this page's life, by the fileId the server gave them (for the alignment picture and preview). */
const localFiles = new Map<string, File>();

export function onSlotsChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(): void {
  const busy = (['dance', 'bgm'] as const).some((s) => {
    const phase = slots[s].state?.phase;
    return phase === 'uploading' || phase === 'checking' || phase === 'retrying' || phase === 'offline';
  });
  holdWakeLock('upload', busy);
  for (const fn of listeners) fn();
}

export const slot = (s: Slot): SlotModel => slots[s];

export function localFileFor(fileId: string): File | null {
  return localFiles.get(fileId) ?? null;
}

/** Envelopes being measured, by fileId (the picture waits for them). */
const pendingEnvelopes = new Map<string, Promise<FileEnvelope | null>>();

/** The file's sound envelope: kept from an earlier visit, being measured now, or null. */
export async function envelopeFor(fileId: string): Promise<FileEnvelope | null> {
  return savedEnvelope(fileId) ?? (await pendingEnvelopes.get(fileId)) ?? null;
}

/** Checks that a finished upload from before a reload is still on the server. */
export async function verifyRestored(s: Slot): Promise<void> {
  const model = slots[s];
  const fileId = model.restored?.fileId;
  if (!fileId || model.restoredInfo) return;
  try {
    model.restoredInfo = await getUpload(fileId);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      model.restored = null;
      saveUpload(s, null);
    }
  }
  changed();
}

export function chooseFile(s: Slot, file: File): void {
  const model = slots[s];
  model.upload?.stop(false);
  model.restored = null;
  model.restoredInfo = null;
  // The sound's envelope is measured while the file uploads, and kept once the server accepted the file.
  const measuring = envelopeOfFile(file);
  const upload = new TusUpload(s, file, (state) => {
    if (model.upload !== upload) return;
    model.state = state;
    if (state.phase === 'done' && state.info) {
      const fileId = state.info.fileId;
      localFiles.set(fileId, file);
      pendingEnvelopes.set(fileId, measuring.then((env) => {
        if (env) saveEnvelope(fileId, env);
        pendingEnvelopes.delete(fileId);
        return env;
      }));
    }
    changed();
  });
  model.upload = upload;
  model.state = upload.state;
  changed();
  void upload.start();
}

export function clearSlot(s: Slot): void {
  const model = slots[s];
  model.upload?.stop(true);
  if (!model.upload) saveUpload(s, null);
  model.upload = null;
  model.state = null;
  model.restored = null;
  model.restoredInfo = null;
  changed();
}

/** Puts a finished upload into a slot (e.g. keep the dance video and pick another song after NO_MATCH). */
export function prefillSlot(s: Slot, fileId: string, name: string): void {
  clearSlot(s);
  const restored: SavedUpload = { fingerprint: '', name, size: 0, url: null, fileId, offset: 0 };
  saveUpload(s, restored);
  slots[s].restored = restored;
  void verifyRestored(s);
}

/** The slot's finished upload, or null. */
export function readyFile(s: Slot): { fileId: string; name: string } | null {
  const model = slots[s];
  if (model.state?.phase === 'done' && model.state.info) return { fileId: model.state.info.fileId, name: model.state.name };
  if (!model.state && model.restored?.fileId && model.restoredInfo) return { fileId: model.restored.fileId, name: model.restored.name };
  return null;
}

/** After a job is submitted the page starts empty again (the files stay on the server for the job). */
export function resetSlots(): void {
  for (const s of ['dance', 'bgm'] as const) {
    slots[s].upload = null;
    slots[s].state = null;
    slots[s].restored = null;
    slots[s].restoredInfo = null;
    saveUpload(s, null);
  }
  changed();
}
