// The terminal view's flow: when output arrived (to say since when output was not saved after a
// crash), what was rendered, the acknowledgements that let the server send more (flow control),
// and the redraw asked for once a replay is rendered. Mixed into TermView (terminal.js).

export const flowMethods = {
  mark(offset) {
    const now = Date.now();
    const last = this.marks[this.marks.length - 1];
    if (last && now - last[1] < 1000) return;
    if (this.marks.length >= 64) this.marks.shift();
    this.marks.push([offset, now]);
  },

  // when output at `offset` arrived, about (local time, HH:MM:SS)
  timeOf(offset) {
    let at = this.marks.length ? this.marks[0][1] : Date.now();
    for (const [o, t] of this.marks) if (o <= offset) at = t;
    return new Date(at).toLocaleTimeString([], { hour12: false });
  },

  onRendered(end) {
    if (end > this.rendered) this.rendered = end;
    this.scheduleAck();
    if (!this.redrawSent && this.rendered >= this.replayTarget) {
      this.replaying = false;
      this.redraw();
    }
  },

  redraw() {
    this.replaying = false;
    if (this.redrawSent) return;
    this.redrawSent = true;
    if (this.session && this.session.status === 'running' && !this.ended) this.sendJson({ type: 'redraw' });
  },

  scheduleAck() {
    if (!this.isOpen()) return;
    if (this.rendered - this.acked >= 65536) {
      this.sendAck();
    } else if (!this.ackTimer && this.rendered > this.acked) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = 0;
        this.sendAck();
      }, 50);
    }
  },

  sendAck() {
    clearTimeout(this.ackTimer);
    this.ackTimer = 0;
    if (this.rendered <= this.acked || !this.isOpen()) return;
    this.acked = this.rendered;
    this.sendJson({ type: 'ack', offset: this.rendered });
  },
};
