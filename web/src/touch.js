// Touch scrolling of the terminal (one-finger drags, with momentum).


// xterm.js 6.0.0 has no touch scrolling of its own (its new scrollable viewport only takes
// wheel events), so a one-finger drag is turned into scrolling here, with some momentum.
// In the normal buffer it scrolls the scrollback; in the alternate screen or when the
// program wants the mouse, it becomes wheel events that xterm passes on to the program.
export function setupTouchScroll(el, term) {
  let lastY = null;
  let lastT = 0;
  let acc = 0;
  let velocity = 0; // px per ms, positive when the finger moves down
  let raf = 0;

  const lineHeight = () => {
    const screen = term.element && term.element.querySelector('.xterm-screen');
    const h = screen ? screen.getBoundingClientRect().height / term.rows : 0;
    return h > 0 ? h : 16;
  };
  const scroll = (px, x, y) => {
    acc += px;
    const lh = lineHeight();
    const lines = Math.trunc(acc / lh);
    if (!lines) return;
    acc -= lines * lh;
    const buf = term.buffer.active;
    if (buf.type === 'normal' && term.modes.mouseTrackingMode === 'none') {
      term.scrollLines(-lines);
    } else if (term.element) {
      term.element.dispatchEvent(
        new WheelEvent('wheel', {
          deltaY: -lines, deltaMode: WheelEvent.DOM_DELTA_LINE, clientX: x, clientY: y,
          bubbles: true, cancelable: true,
        }),
      );
    }
  };
  const stopMomentum = () => {
    cancelAnimationFrame(raf);
    raf = 0;
  };
  const onStart = (e) => {
    stopMomentum();
    if (e.touches.length !== 1) {
      lastY = null;
      return;
    }
    lastY = e.touches[0].clientY;
    lastT = performance.now();
    acc = 0;
    velocity = 0;
  };
  const onMove = (e) => {
    if (lastY === null || e.touches.length !== 1) return;
    const t = e.touches[0];
    const now = performance.now();
    const dy = t.clientY - lastY;
    const dt = Math.max(1, now - lastT);
    lastY = t.clientY;
    lastT = now;
    velocity = 0.8 * (dy / dt) + 0.2 * velocity;
    if (e.cancelable) e.preventDefault(); // no page scroll, no pull-to-refresh
    scroll(dy, t.clientX, t.clientY);
  };
  const onEnd = (e) => {
    if (lastY === null) return;
    const x = e.changedTouches[0] ? e.changedTouches[0].clientX : 0;
    const y = lastY;
    lastY = null;
    if (performance.now() - lastT > 100 || Math.abs(velocity) < 0.3) return;
    let prev = performance.now();
    const step = (now) => {
      const dt = now - prev;
      prev = now;
      scroll(velocity * dt, x, y);
      velocity *= Math.pow(0.95, dt / 16);
      raf = Math.abs(velocity) > 0.05 ? requestAnimationFrame(step) : 0;
    };
    raf = requestAnimationFrame(step);
  };
  el.addEventListener('touchstart', onStart, { passive: true });
  el.addEventListener('touchmove', onMove, { passive: false });
  el.addEventListener('touchend', onEnd, { passive: true });
  el.addEventListener('touchcancel', onEnd, { passive: true });
  return () => {
    stopMomentum();
    el.removeEventListener('touchstart', onStart);
    el.removeEventListener('touchmove', onMove);
    el.removeEventListener('touchend', onEnd);
    el.removeEventListener('touchcancel', onEnd);
  };
}
