// The player tracker: reports what a viewer watched to recordWatch (docs/tracker.md).
// An ES module with no dependency and no build step, served as /tracker.js?v=1.
//
//   import { track } from "https://analytics.example/tracker.js?v=1";
//   const handle = track(document.querySelector("video"), {
//     endpoint: "https://analytics.example/graphql", token, sessionId: "42", mode: "RECORDING",
//   });
//   handle.flush(); handle.stop();
//
// What it reports are whole seconds that were actually played: second s
// counts once the playback covered all of [s, s + 1). For RECORDING the
// source is the media element's own `played` ranges (already the union of
// what was played: seeking back, rewatching, 2x speed and pauses need no
// special case); for LIVE, the wall-clock time the element spent playing,
// as seconds since the stream began. Only seconds not yet acknowledged by
// the server are sent; a resend after a lost answer is harmless, because
// the server counts the union of seconds.

export const VERSION = "2";
const RECORD = "mutation RecordWatch($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }";
const MAX_SEGMENTS = 1000; // the server's limit per call
const KEEPALIVE_SEGMENTS = 500; // keepalive bodies must stay under 64 KB
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

// ---- Sets of whole seconds as sorted, disjoint, non-adjacent [start, end) pairs.

export function union(a, b) {
  const all = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const out = [];
  for (const [start, end] of all) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

export function minus(a, b) {
  const out = [];
  for (let [start, end] of a) {
    for (const [bStart, bEnd] of b) {
      if (bEnd <= start || bStart >= end) continue;
      if (bStart > start) out.push([start, bStart]);
      start = Math.max(start, bEnd);
      if (start >= end) break;
    }
    if (start < end) out.push([start, end]);
  }
  return out;
}

/** Whole seconds inside [from, to): a second counts only when all of it is inside. */
export function wholeSeconds(from, to) {
  const start = Math.ceil(from - 1e-6);
  const end = Math.floor(to + 1e-6);
  return end > start ? [[start, end]] : [];
}

/** A TimeRanges object (media.played) as whole seconds. */
export function fromTimeRanges(ranges) {
  let seconds = [];
  for (let i = 0; i < ranges.length; i += 1) {
    seconds = union(seconds, wholeSeconds(ranges.start(i), ranges.end(i)));
  }
  return seconds;
}

// ---- Delivery: batches, retries with backoff and jitter, a last flush on pagehide.

class Reporter {
  constructor(options) {
    if (!options || !options.sessionId) throw new Error("track: sessionId is required");
    if (!["LIVE", "RECORDING"].includes(options.mode)) {
      throw new Error('track: mode must be "LIVE" or "RECORDING"');
    }
    this.options = {
      endpoint: "/graphql",
      interval: 5000,
      maxBackoff: 60000,
      onError: () => {},
      onReport: () => {},
      ...options,
    };
    this.watched = []; // every second seen played
    this.acknowledged = []; // seconds the server has confirmed
    this.sending = null; // the request in flight, if any
    this.failures = 0;
    this.retryAt = 0;
    this.stopped = false;
    this.timer = setInterval(() => this.flush(), this.options.interval);
  }

  add(seconds) {
    if (!this.stopped) this.watched = union(this.watched, seconds);
  }

  pending() {
    return minus(this.watched, this.acknowledged);
  }

  /** Send what is not acknowledged yet; resolves when this round is answered. */
  async flush({ keepalive = false } = {}) {
    if (this.stopped) return;
    if (this.sending) {
      if (!keepalive) return this.sending;
    } else if (!keepalive && Date.now() < this.retryAt) {
      return; // backing off
    }
    const limit = keepalive ? KEEPALIVE_SEGMENTS : MAX_SEGMENTS;
    const batch = this.pending().slice(0, limit);
    if (batch.length === 0) return;
    const round = this.send(batch, keepalive);
    if (!keepalive) this.sending = round.finally(() => { this.sending = null; });
    return round;
  }

  async send(batch, keepalive) {
    const { endpoint, token, sessionId, mode } = this.options;
    const segments = batch.map(([startSecond, endSecond]) => ({ sessionId, mode, startSecond, endSecond }));
    let status = 0;
    let body = null;
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        keepalive,
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: RECORD, variables: { s: segments } }),
      });
      status = response.status;
      body = await response.json().catch(() => null);
    } catch (error) {
      return this.retryLater(error); // the network: keep the seconds, try again
    }
    const errors = body && body.errors;
    if (status === 200 && body && body.data && !errors) {
      this.acknowledged = union(this.acknowledged, batch);
      this.failures = 0;
      this.retryAt = 0;
      this.options.onReport({ segments: batch.length, accepted: body.data.recordWatch.accepted });
      return;
    }
    const code = errors && errors[0] && errors[0].extensions && errors[0].extensions.code;
    if (RETRY_STATUSES.has(status) || code === 503) return this.retryLater(new Error(`HTTP ${status}`));
    // 401 (sign-in ended), 403, 404, 400: sending again cannot help.
    this.stop();
    const message = (errors && errors[0] && errors[0].message) || `HTTP ${status}`;
    this.options.onError(Object.assign(new Error(message), { status, code }));
  }

  retryLater(error) {
    this.failures += 1;
    const ceiling = Math.min(this.options.maxBackoff, 1000 * 2 ** Math.min(this.failures, 16));
    this.retryAt = Date.now() + ceiling * (0.5 + Math.random() / 2); // jitter
    setTimeout(() => this.flush(), this.retryAt - Date.now() + 1);
    return error;
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
  }
}

// ---- Sources: what was played, read from the player.

function liveClock(reporter, streamStart) {
  const start = new Date(streamStart).getTime();
  if (Number.isNaN(start)) throw new Error("track: LIVE needs streamStart (the stream's start time)");
  let since = null; // wall-clock ms since the element has been playing
  return {
    playing() { if (since === null) since = Date.now(); },
    paused() { this.take(); since = null; },
    take() {
      if (since === null) return;
      const now = Date.now();
      reporter.add(wholeSeconds((since - start) / 1000, (now - start) / 1000));
      // Go on from the start of the second in progress (not from now), so a
      // second that two reads split still counts once it is played whole.
      since = Math.max(since, start + Math.floor((now - start) / 1000) * 1000);
    },
  };
}

/** Track an HTMLMediaElement (<video>, <audio>; also hls.js, dash.js, Shaka, video.js). */
export function track(media, options) {
  const reporter = new Reporter(options);
  const live = options.mode === "LIVE" ? liveClock(reporter, options.streamStart) : null;
  const read = () => {
    if (live) live.take();
    else reporter.add(fromTimeRanges(media.played));
  };
  const onPlaying = () => { if (live) live.playing(); };
  const onStopped = () => { if (live) live.paused(); else read(); };
  const events = { playing: onPlaying, pause: onStopped, waiting: onStopped, seeking: onStopped,
    ended: onStopped, timeupdate: read };
  for (const [name, handler] of Object.entries(events)) media.addEventListener(name, handler);
  if (live && !media.paused && media.readyState >= 3) live.playing();
  return handle(reporter, read, () => {
    for (const [name, handler] of Object.entries(events)) media.removeEventListener(name, handler);
  });
}

/**
 * Track a player that is not a media element, through what it can be asked:
 * getCurrentTime() and whether it is playing, polled every `poll` ms. Used by
 * the YouTube and Vimeo adapters below.
 */
export function trackPolled(player, options) {
  const reporter = new Reporter(options);
  const live = options.mode === "LIVE" ? liveClock(reporter, options.streamStart) : null;
  const poll = options.poll ?? 250;
  let last = null; // the position at the previous poll
  let lastAt = 0;
  let played = []; // what was played, in fractional seconds (as media.played would be)
  const tick = async () => {
    const [playing, position] = await Promise.all([player.isPlaying(), player.getCurrentTime()]);
    const now = Date.now();
    if (live) {
      if (playing) live.playing(); else live.paused();
      live.take();
    } else if (last !== null) {
      // Played from `last` to `position` (also when it paused in between),
      // unless it moved further than the wall clock allows at 4x: a seek.
      const advanced = position - last;
      if (advanced > 0 && advanced <= ((now - lastAt) / 1000) * 4 + 0.25) {
        played = union(played, [[last, position]]);
        for (const [from, to] of played) reporter.add(wholeSeconds(from, to));
      }
    }
    last = position;
    lastAt = now;
  };
  const timer = setInterval(() => { tick().catch(() => {}); }, poll);
  return handle(reporter, tick, () => clearInterval(timer));
}

/** YouTube IFrame API player (new YT.Player(...)). */
export function trackYouTube(player, options) {
  const PLAYING = 1; // YT.PlayerState.PLAYING
  return trackPolled({
    isPlaying: async () => player.getPlayerState() === PLAYING,
    getCurrentTime: async () => player.getCurrentTime(),
  }, options);
}

/** Vimeo Player SDK player (new Vimeo.Player(...)); its getters return promises. */
export function trackVimeo(player, options) {
  return trackPolled({
    isPlaying: async () => !(await player.getPaused()) && !(await player.getEnded()),
    getCurrentTime: () => player.getCurrentTime(),
  }, options);
}

function handle(reporter, read, detach) {
  const lastFlush = () => { read(); reporter.flush({ keepalive: true }); };
  const onVisibility = () => { if (document.visibilityState === "hidden") lastFlush(); };
  if (typeof window !== "undefined") {
    window.addEventListener("pagehide", lastFlush);
    document.addEventListener("visibilitychange", onVisibility);
  }
  return {
    /** Send now what is not acknowledged yet. */
    flush: async () => { read(); await reporter.flush(); },
    /** Stop tracking, after a last flush of what was watched. */
    stop: async () => {
      read();
      detach();
      if (typeof window !== "undefined") {
        window.removeEventListener("pagehide", lastFlush);
        document.removeEventListener("visibilitychange", onVisibility);
      }
      await reporter.flush();
      reporter.stop();
    },
    /** What was seen played and what the server acknowledged, as [start, end) seconds. */
    state: () => ({ watched: reporter.watched, acknowledged: reporter.acknowledged,
      stopped: reporter.stopped }),
  };
}
