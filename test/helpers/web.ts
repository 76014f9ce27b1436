// Browser tests of the web page: builds dist/web when the sources are newer, launches Debian's chromium
// through playwright-core (never a downloaded browser), and saves screenshots under test-artifacts/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_SRC = join(ROOT, 'src/web');
const WEB_OUT = join(ROOT, 'dist/web/index.html');
export const SCREENSHOTS = join(ROOT, 'test-artifacts/screenshots');
const AXE = join(ROOT, 'node_modules/axe-core/axe.min.js');

function newestSource(): number {
  let newest = statSync(join(ROOT, 'vite.config.ts')).mtimeMs;
  for (const entry of readdirSync(WEB_SRC, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Runs `vite build` when dist/web is missing or older than any page source. */
export function ensureWebBuilt(): void {
  let built = 0;
  try {
    built = statSync(WEB_OUT).mtimeMs;
  } catch {
    built = 0;
  }
  if (built >= newestSource()) return;
  const run = spawnSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`vite build failed:\n${run.stdout}\n${run.stderr}`);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
}

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1440, height: 900 };

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>-<width>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}-${page.viewportSize()?.width ?? 0}.png`);
  // Let transitions settle so the picture is what a person would see.
  await page.waitForTimeout(350);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Console errors and uncaught exceptions of `page` from now on. */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** axe-core on the page as it is now: no violations at all, no sideways scroll, no console errors; then a screenshot in `dir`. */
export async function audit(page: Page, errors: string[], name: string, dir = SCREENSHOTS): Promise<void> {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: Document) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document);
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  const width = page.viewportSize()!.width;
  assert.deepEqual(violations, [], `${name} at ${width} px`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${name} at ${width} px scrolls sideways by ${overflow} px`);
  assert.deepEqual(errors, [], `${name}: console errors`);
  mkdirSync(dir, { recursive: true });
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(dir, `${name}-${width}.png`), fullPage: true });
}

/** The audit at a 390 px phone and at 320 px, back to the first size after. */
export async function auditPhoneWidths(page: Page, errors: string[], name: string, dir = SCREENSHOTS): Promise<void> {
  const size = page.viewportSize()!;
  for (const width of [390, 320]) {
    await page.setViewportSize({ width, height: size.height });
    await audit(page, errors, name, dir);
  }
  await page.setViewportSize(size);
}

/** Opens the page, chooses both files, waits for both uploads and presses Sync. */
export async function chooseBothAndSync(page: Page, url: string, files: { dance: string; bgm: string }): Promise<void> {
  await page.goto(url);
  await page.setInputFiles('#file-dance', files.dance);
  await page.setInputFiles('#file-bgm', files.bgm);
  await page.waitForSelector('.slot-dance[data-phase="done"]', { timeout: 30_000 });
  await page.waitForSelector('.slot-bgm[data-phase="done"]', { timeout: 30_000 });
  await page.click('#sync');
}

/** What recordNotifications leaves on the page's globalThis. */
export interface RecordedNotes { __notes: string[]; __hidden: boolean }

/**
 * An init script (BROWSER API): headless tabs are never hidden, so the page is told it is when `__hidden` is
 * set, and every notification it shows is recorded in `__notes` as "title|body".
 */
export function recordNotifications(): void {
  const w = globalThis as unknown as RecordedNotes & { Notification: typeof Notification };
  w.__notes = [];
  w.__hidden = false;
  Object.defineProperty(document, 'visibilityState', { get: () => (w.__hidden ? 'hidden' : 'visible') });
  const Real = w.Notification;
  w.Notification = class extends Real {
    constructor(title: string, options?: NotificationOptions) {
      super(title, options);
      w.__notes.push(`${title}|${options?.body ?? ''}`);
    }
  } as typeof Notification;
}
