// Every answered trial goes through the outbox: kept in localStorage until the server acknowledges it (the
// server commits before it answers), sent one at a time in order, retried with backoff while the server or
// the network is away. A reload or a closed tab loses nothing that was answered; a retry of a trial the
// server already stored is acknowledged as a duplicate, never stored twice.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Outbox {
  constructor(storageKey, onStatus) {
    this.key = storageKey;
    this.onStatus = onStatus || (() => {});
    this.queue = JSON.parse(localStorage.getItem(this.key) || "[]");
    this.rejected = [];
    this.sending = false;
    this.waiters = [];
    window.addEventListener("online", () => { this.backoff = 250; this.flush(); });
  }

  get pending() {
    return this.queue.length;
  }

  lastPosition() {
    return this.queue.length ? this.queue[this.queue.length - 1].position : -1;
  }

  push(trial) {
    this.queue.push(trial);
    this.save();
    this.flush();
  }

  save() {
    localStorage.setItem(this.key, JSON.stringify(this.queue));
  }

  async flush() {
    if (this.sending) return;
    this.sending = true;
    this.backoff = 250;
    while (this.queue.length) {
      const trial = this.queue[0];
      let res = null;
      try {
        res = await fetch("api/trial", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify(trial), cache: "no-store" });
      } catch (e) {
        res = null; // offline or the server is down: keep it and try again
      }
      if (res && res.ok) {
        this.queue.shift();
        this.save();
        this.onStatus({ online: true, pending: this.queue.length });
      } else if (res && res.status >= 400 && res.status < 500 && ![408, 425, 429].includes(res.status)) {
        // refused for good (the server changed nothing): never resend it
        this.rejected.push({ trial, status: res.status, error: (await res.json().catch(() => ({}))).error });
        this.queue.shift();
        this.save();
      } else {
        this.onStatus({ online: false, pending: this.queue.length });
        await sleep(this.backoff);
        this.backoff = Math.min(this.backoff * 2, 4000);
      }
    }
    this.sending = false;
    this.waiters.splice(0).forEach((resolve) => resolve());
  }

  drained() {
    if (!this.queue.length && !this.sending) return Promise.resolve();
    const p = new Promise((resolve) => this.waiters.push(resolve));
    this.flush();
    return p;
  }
}
