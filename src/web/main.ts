// The page's entry: header (navigation, language, connection state), hash routes (#/, #/job/<id>,
// #/history), and one view at a time (each view returns its cleanup).
import './style.css';
import { onNetState } from './api.ts';
import { clear, h, setText } from './dom.ts';
import { lang, onLangChange, setLang, t } from './i18n.ts';
import { renderHistory } from './view-history.ts';
import { renderJob } from './view-job.ts';
import { renderNew } from './view-new.ts';

const app = document.getElementById('app')!;
const main = h('main', { id: 'main', tabindex: '-1' });
const navNew = h('a', { href: '#/', class: 'nav' });
const navHistory = h('a', { href: '#/history', class: 'nav' });
const langButton = h('button', { type: 'button', class: 'link lang', lang: '' });
const net = h('span', { class: 'net', role: 'status' });
const banner = h('div', { class: 'banner', role: 'status', hidden: true });
app.append(
  h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
  h('header', { class: 'top' },
    h('a', { href: '#/', class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '♪'), 'BeatSync'),
    h('nav', { 'aria-label': 'BeatSync' }, navNew, navHistory),
    net,
    langButton,
  ),
  main,
  banner,
);

let cleanup: (() => void) | null = null;

function navigate(hash: string): void {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route(): void {
  cleanup?.();
  cleanup = null;
  clear(main);
  const hash = location.hash || '#/';
  const job = /^#\/job\/([^/?#]+)/.exec(hash);
  navNew.toggleAttribute('aria-current', hash === '#/' || hash === '#');
  navHistory.toggleAttribute('aria-current', hash.startsWith('#/history'));
  if (navNew.hasAttribute('aria-current')) navNew.setAttribute('aria-current', 'page');
  if (navHistory.hasAttribute('aria-current')) navHistory.setAttribute('aria-current', 'page');
  if (job) cleanup = renderJob(main, decodeURIComponent(job[1]), navigate);
  else if (hash.startsWith('#/history')) cleanup = renderHistory(main);
  else cleanup = renderNew(main, navigate);
  document.title = `BeatSync — ${job ? t('jobTitle') : hash.startsWith('#/history') ? t('historyTitle') : t('navNew')}`;
  // Screen readers and keyboards start at the new view's heading.
  const heading = main.querySelector<HTMLElement>('h1[tabindex]');
  if (heading && document.activeElement !== document.body) heading.focus({ preventScroll: true });
}

function labels(): void {
  document.documentElement.lang = lang();
  setText(navNew, t('navNew'));
  setText(navHistory, t('navHistory'));
  setText(langButton, t('switchLang'));
  langButton.setAttribute('lang', lang() === 'en' ? 'zh-CN' : 'en');
  // No aria-label: the name is the visible word ("中文"), spoken in its own language.
  langButton.title = t('switchLangLabel');
  setText(banner, t('offlineBanner'));
}

langButton.addEventListener('click', () => setLang(lang() === 'en' ? 'zh-CN' : 'en'));
onLangChange(() => {
  labels();
  route();
});
onNetState((s) => {
  net.dataset.state = s;
  setText(net, s === 'online' ? '' : s === 'offline' ? t('offlineBanner') : s === 'busy' ? t('serverBusy') : t('reconnecting'));
  banner.hidden = s !== 'offline';
});
addEventListener('hashchange', route);
labels();
route();
