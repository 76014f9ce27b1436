// Makes a client's file name safe to show and to put in a download name. It is never used as a path:
// storage keys come from random ids.

const MAX_CHARS = 120;

/** Last path segment, without control/bidi/invisible characters or characters that are special in file systems, at most 120 characters. */
export function sanitizeFilename(name: string | undefined | null, fallback = 'upload'): string {
  let text = String(name ?? '').normalize('NFC');
  // Only the last segment of anything that looks like a path (both separators: clients differ).
  text = text.split(/[/\\]/).pop() ?? '';
  text = text
    // C0/C1 controls, DEL, bidi overrides and isolates, zero-width characters, BOM.
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g, '')
    .replace(/[<>:"|?*]/g, '_')
    .replace(/\s+/g, ' ')
    .replace(/\.{2,}/g, '.')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  if (text.length > MAX_CHARS) {
    const dot = text.lastIndexOf('.');
    const ext = dot > 0 && text.length - dot <= 10 ? text.slice(dot) : '';
    text = [...text.slice(0, text.length - ext.length)].slice(0, MAX_CHARS - ext.length).join('') + ext;
  }
  return text || fallback;
}
