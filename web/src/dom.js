// Page-level DOM helpers: `$`, whether the screen is a touch screen, and the app's height
// following the visible part of the page.

export const $ = (sel) => document.querySelector(sel);

export const isTouch = () => window.matchMedia('(pointer: coarse)').matches;

// Keep the app as tall as the visible part of the page (a phone's keyboard shrinks it).
export function trackViewport() {
  const vv = window.visualViewport;
  const apply = () => {
    const h = vv ? vv.height : window.innerHeight;
    document.documentElement.style.setProperty('--app-h', `${Math.round(h)}px`);
    document.documentElement.style.setProperty('--app-top', `${vv ? Math.round(vv.offsetTop) : 0}px`);
  };
  apply();
  (vv || window).addEventListener('resize', apply);
  if (vv) vv.addEventListener('scroll', apply);
}
