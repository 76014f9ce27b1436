// Browser tests of the web page: builds dist/web when the sources are newer, launches Debian's chromium
// through playwright-core (never a downloaded browser), and saves screenshots under test-artifacts/.
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
