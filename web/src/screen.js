// The xterm.js Terminal as the terminal view uses it: font, colours and addons; and the
// replayed output's old terminal queries, left unanswered.

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { FONT_FAMILY, baseFontSize } from './fonts.js';

const THEME = {
  background: '#0d1117',
  foreground: '#e6edf3',
  cursor: '#e6edf3',
  cursorAccent: '#0d1117',
  selectionBackground: '#2f5d8a',
  selectionInactiveBackground: '#2a3442',
  black: '#484f58',
  red: '#ff7b72',
  green: '#3fb950',
  yellow: '#d29922',
  blue: '#58a6ff',
  magenta: '#bc8cff',
  cyan: '#39c5cf',
  white: '#b1bac4',
  brightBlack: '#6e7681',
  brightRed: '#ffa198',
  brightGreen: '#56d364',
  brightYellow: '#e3b341',
  brightBlue: '#79c0ff',
  brightMagenta: '#d2a8ff',
  brightCyan: '#56d4dd',
  brightWhite: '#f0f6fc',
};

// A Terminal opened in `el`, with the fit, web links and Unicode 11 addons loaded; `ro`
// disables its input.
export function openTerminal(el, ro) {
  const term = new Terminal({
    allowProposedApi: true,
    fontFamily: FONT_FAMILY,
    fontSize: baseFontSize(),
    scrollback: 5000,
    cursorBlink: true,
    theme: THEME,
    rightClickSelectsWord: false,
    smoothScrollDuration: 0,
    disableStdin: ro,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new WebLinksAddon());
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  term.open(el);
  return { term, fit };
}

// Replayed output may hold a program's terminal queries (cursor position, device
// attributes, colours); answering them again would type the answers into the shell.
// `replaying()` says whether the output being written is such a replay.
export function suppressReplayQueries(term, replaying) {
  const p = term.parser;
  const swallow = () => replaying();
  const csi = [
    { final: 'c' }, { prefix: '>', final: 'c' }, { prefix: '=', final: 'c' },
    { final: 'n' }, { prefix: '?', final: 'n' },
    { intermediates: '$', final: 'p' }, { prefix: '?', intermediates: '$', final: 'p' },
    { prefix: '>', final: 'q' }, { final: 't' }, { prefix: '?', final: 'u' },
  ];
  for (const id of csi) p.registerCsiHandler(id, swallow);
  p.registerDcsHandler({ intermediates: '$', final: 'q' }, swallow);
  p.registerDcsHandler({ intermediates: '+', final: 'q' }, swallow);
  for (const n of [4, 10, 11, 12, 17, 19, 52]) {
    p.registerOscHandler(n, (data) => replaying() && data.includes('?'));
  }
}
