// The YouTube and Vimeo adapters of static/tracker.js, against stand-in
// players with the same methods (the real services cannot be reached here),
// in Node with a stand-in fetch that records what would be sent. Prints JSON
// for tests/test_tracker.py: what the stand-ins really played, and what the
// tracker reported.
import { trackVimeo, trackYouTube, union } from "../../gql_server/static/tracker.js";

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const sent = [];
globalThis.fetch = async (url, init) => {
  const { variables } = JSON.parse(init.body);
  sent.push(...variables.s);
  return { status: 200, json: async () => ({ data: { recordWatch: { accepted: variables.s.length } } }) };
};

// A player whose position moves with the wall clock while it plays.
class StandIn {
  constructor(rate) { this.rate = rate; this.position = 0; this.since = null; this.played = []; }
  now() { return this.since === null ? this.position : this.position + ((Date.now() - this.since) / 1000) * this.rate; }
  play() { this.from = this.now(); this.since = Date.now(); }
  pause() { const at = this.now(); this.played = union(this.played, [[this.from, at]]); this.position = at; this.since = null; }
  seek(to) { this.position = to; }
}

class FakeYouTube extends StandIn {
  getPlayerState() { return this.since === null ? 2 : 1; } // 1 PLAYING, 2 PAUSED
  getCurrentTime() { return this.now(); }
}

class FakeVimeo extends StandIn {
  async getPaused() { return this.since === null; }
  async getEnded() { return false; }
  async getCurrentTime() { return this.now(); }
}

async function session(player, adapter, name) {
  sent.length = 0;
  const handle = adapter(player, { endpoint: "http://stand-in/graphql", token: "t", sessionId: name,
    mode: "RECORDING", poll: 20, interval: 100000 });
  await sleep(60);
  player.play(); await sleep(1200); player.pause(); await sleep(60); // about 0 .. 4.8
  player.seek(2); await sleep(60);
  player.play(); await sleep(800); player.pause(); await sleep(60); // rewatch 2 .. 5.2
  player.seek(10); await sleep(60);                                  // skip ahead
  player.play(); await sleep(700); player.pause(); await sleep(60);  // 10 .. 12.8
  await handle.stop();
  const whole = (ranges) => {
    const seconds = new Set();
    for (const [a, b] of ranges) for (let s = Math.ceil(a - 1e-6); s < Math.floor(b + 1e-6); s += 1) seconds.add(s);
    return [...seconds].sort((x, y) => x - y);
  };
  const reported = new Set();
  for (const { startSecond, endSecond } of sent) for (let s = startSecond; s < endSecond; s += 1) reported.add(s);
  return { played: player.played, truth: whole(player.played), reported: [...reported].sort((x, y) => x - y) };
}

const result = {
  youtube: await session(new FakeYouTube(4), trackYouTube, "yt"),
  vimeo: await session(new FakeVimeo(4), trackVimeo, "vimeo"),
};
console.log(JSON.stringify(result));
