// The host dashboard: plain ES modules over the public GraphQL API only
// (POST /graphql, the graphql-transport-ws subscription at /graphql, and the
// CSV export). No build step; uPlot is vendored under /static/vendor.
import uPlot from "/static/vendor/uplot-1.6.32/uPlot.esm.js";

const PAGE_SIZE = 20;
const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("token"),
  eventId: null,
  order: "START_TIME_ASC",
  search: "",
  cursors: [null], // the `after` of each page seen so far
  page: 0,
  nodes: [],
  charts: [],
  socket: null,
  // The host's time zone (the browser's), for the timeline and every time shown.
  timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
  bucket: "DAY",
};

// What each documented error code means to a person (docs/errors.md).
const WORDS = {
  401: "Your sign-in has expired or is not valid. Please sign in again.",
  4010102: "Too many failed sign-ins for this address. Try again in 30 minutes.",
  4030201: "You are not a host of this event, so you cannot see its analytics.",
  4040200: "This event does not exist (any more).",
  404800: "This session does not exist (any more).",
  4040300: "This webhook endpoint does not exist (any more).",
  4040301: "This webhook delivery does not exist (any more).",
  503: "The server cannot reach its database right now. Please try again in a moment.",
};

class ApiError extends Error {
  constructor(code, message) {
    super(WORDS[code] ?? message ?? `Something went wrong (code ${code}).`);
    this.code = code;
  }
}

async function api(query, variables = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(response.status, `The server answered with HTTP ${response.status}.`);
  }
  const error = body.errors?.[0];
  if (error) {
    const code = error.extensions?.code ?? response.status;
    if (code === 401 && state.token) signOut(WORDS[401]);
    throw new ApiError(code, code === 400 ? `The request was refused: ${error.message}` : error.message);
  }
  return body.data;
}

function say(text, kind = "error") {
  const message = $("message");
  message.textContent = text;
  message.className = kind;
  message.hidden = !text;
}

function show(...ids) {
  for (const id of ["sign-in", "events", "overview", "detail", "webhooks"]) $(id).hidden = !ids.includes(id);
}

function signOut(text = "") {
  state.token = null;
  sessionStorage.removeItem("token");
  closeSocket();
  $("who").textContent = "";
  $("sign-out").hidden = true;
  show("sign-in");
  say(text);
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const data = await api(
      "mutation SignIn($e: String!, $p: String!) { login(email: $e, password: $p) { token user { name } } }",
      { e: form.get("email"), p: form.get("password") },
    );
    state.token = data.login.token;
    sessionStorage.setItem("token", state.token);
    say("");
    await start();
  } catch (error) {
    say(error.code === 401 ? "Wrong email or password." : error.message);
  }
}

async function start() {
  const data = await api("{ me { name } hostedEvents { id name } }");
  if (!data.me) return signOut(WORDS[401]);
  $("who").textContent = `Signed in as ${data.me.name}`;
  $("sign-out").hidden = false;
  const picker = $("event-picker");
  picker.replaceChildren(...data.hostedEvents.map((e) => new Option(e.name, e.id)));
  if (!data.hostedEvents.length) {
    show("events");
    return say("You do not host any event yet.", "info");
  }
  await pickEvent(data.hostedEvents[0].id);
  const linked = hashSession(); // a link or a reload of a session's detail
  if (linked) await openSession(linked);
}

async function pickEvent(eventId) {
  state.eventId = eventId;
  state.cursors = [null];
  state.page = 0;
  $("event-picker").value = eventId;
  closeSocket();
  state.endpoint = null;
  state.selected = null;
  $("detail").hidden = true;
  $("webhook-secret").hidden = true;
  await loadPage();
  await loadWebhooks();
}

const FIELDS = `id title startTime endTime format streamProvider duration analyticsAvailable
  registeredUserCount attendeeCount liveViews recordingViews avgAttendedDuration
  avgRecordingDuration noShowCount watchTime { live recording } liveEngagement recordingEngagement`;

async function loadPage({ timeline = true } = {}) {
  try {
    const data = await api(
      `query EventSessions($e: ID!, $first: Int, $after: String, $search: String, $order: SessionOrder) {
        event(id: $e) {
          analytics { sessions uniqueViewers liveViews recordingViews watchTime { live recording } asOf }
          sessions(first: $first, after: $after, search: $search, orderBy: $order) {
            totalCount pageInfo { hasNextPage endCursor } nodes { ${FIELDS} } } } }`,
      { e: state.eventId, first: PAGE_SIZE, after: state.cursors[state.page], search: state.search || null, order: state.order },
    );
    say("");
    render(data.event);
  } catch (error) {
    show("events");
    say(error.message);
  }
  if (timeline) await loadTimeline();
}

const number = (value) => (value === null || value === undefined ? null : value);
// "1 viewer", "2 viewers".
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
// Enum values as people read them.
const FORMATS = {
  MAIN_STAGE: "Main stage", BREAKOUT_SESSION: "Breakout session", MEET_UP: "Meet-up",
  WORKSHOP: "Workshop", EXPO: "Expo", BREAK: "Break", OTHER: "Other",
};
const PROVIDERS = {
  YOUTUBE: "YouTube", VIMEO: "Vimeo", VOXEET: "Voxeet (Dolby.io)", TOKBOX: "TokBox (Vonage)",
  DIRECT_UPLOAD: "Direct upload", ZOOM: "Zoom", FACEBOOK: "Facebook Live", WISTIA: "Wistia",
};
const kindOf = (s) => [FORMATS[s.format] ?? s.format, s.streamProvider ? PROVIDERS[s.streamProvider] ?? s.streamProvider : "No stream"].join(" · ");
const percent = (value) => (value === null ? null : `${value.toFixed(1)} %`);
// Durations as people read them: "45 s", "12 min 05 s", "1 h 05 min".
function duration(value) {
  if (value === null || value === undefined) return null;
  const total = Math.round(value);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (hours) return `${hours} h ${two(minutes)} min`;
  if (minutes) return `${minutes} min ${two(secs)} s`;
  return `${secs} s`;
}
const when = (value) => new Date(value).toLocaleString(undefined, { timeZone: state.timeZone });

function cell(value, field) {
  const td = document.createElement("td");
  td.dataset.field = field;
  if (value === null || value === undefined) {
    td.textContent = "—";
    td.className = "na";
    td.title = "Not available for this session";
  } else {
    td.textContent = value;
  }
  return td;
}

function isLive(session, now = Date.now()) {
  return Date.parse(session.startTime) <= now && now < Date.parse(session.endTime);
}

function render(event) {
  show("events", "overview", "webhooks", ...(state.selected ? ["detail"] : []));
  const totals = event.analytics;
  $("totals").replaceChildren(...[
    ["sessions", totals.sessions, "Sessions"],
    ["uniqueViewers", totals.uniqueViewers, "Unique viewers"],
    ["liveViews", totals.liveViews, "Live views"],
    ["recordingViews", totals.recordingViews, "Recording views"],
    ["liveWatchTime", duration(totals.watchTime.live), "Watched live"],
    ["recordingWatchTime", duration(totals.watchTime.recording), "Watched recorded"],
  ].map(([field, value, name]) => {
    const figure = Object.assign(document.createElement("div"), { className: "figure" });
    figure.dataset.field = field;
    figure.append(Object.assign(document.createElement("span"), { className: "value", textContent: value }),
      Object.assign(document.createElement("span"), { className: "name", textContent: name }));
    return figure;
  }));
  const page = event.sessions;
  state.nodes = page.nodes;
  state.hasNext = page.pageInfo.hasNextPage;
  state.cursors[state.page + 1] = page.pageInfo.endCursor;
  $("count").textContent = `${page.totalCount} sessions`;
  $("page").textContent = `Page ${state.page + 1} of ${Math.max(1, Math.ceil(page.totalCount / PAGE_SIZE))}`;
  $("previous").disabled = state.page === 0;
  $("next").disabled = !page.pageInfo.hasNextPage;
  $("csv").href = "#";
  const span = (className, field, text) => {
    const element = Object.assign(document.createElement("span"), { className, textContent: text });
    element.dataset.field = field;
    return element;
  };
  const rows = page.nodes.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.id = s.id;
    // The session: its title on one or two lines, what it is below (the rest of
    // its numbers are in its detail: the table fits a 1366 px screen).
    const session = document.createElement("td");
    session.dataset.field = "session";
    const title = span("title", "title", s.title);
    title.title = s.title;
    const meta = Object.assign(document.createElement("span"), { className: "meta" });
    if (isLive(s)) meta.append(span("live", "live", "LIVE"), " ");
    meta.append(span("kind", "kind", kindOf(s)));
    session.append(title, meta);
    tr.append(
      session,
      cell(new Date(s.startTime).toLocaleString(undefined, {
        timeZone: state.timeZone, month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
      }), "startTime"),
      cell(duration(s.duration), "duration"),
      cell(s.registeredUserCount, "registeredUserCount"),
      cell(s.attendeeCount, "attendeeCount"),
      cell(number(s.liveViews), "liveViews"),
      cell(number(s.recordingViews), "recordingViews"),
      cell(duration(s.avgAttendedDuration), "avgAttendedDuration"),
      cell(percent(s.liveEngagement), "liveEngagement"),
      cell(s.noShowCount, "noShowCount"),
    );
    tr.addEventListener("click", () => openSession(s.id, { push: true }));
    if (s.id === state.selected) tr.className = "selected";
    return tr;
  });
  $("sessions").tBodies[0].replaceChildren(...rows);
  for (const button of document.querySelectorAll("th button")) {
    button.classList.toggle("active", state.order.startsWith(button.dataset.sort));
  }
  drawViews(page.nodes.filter((s) => s.analyticsAvailable));
}

function chart(id, options, data) {
  const target = $(id);
  target.replaceChildren();
  const width = Math.max(320, Math.min(1000, target.clientWidth || 800));
  state.charts.push(new uPlot({ width, height: 240, ...options }, data, target));
}

// Horizontal bars, one row per session: the titles cannot run into each other.
function drawViews(sessions) {
  const most = Math.max(1, ...sessions.flatMap((s) => [s.liveViews, s.recordingViews]));
  const rows = sessions.flatMap((s) => {
    const label = Object.assign(document.createElement("span"), { className: "label", textContent: s.title, title: s.title });
    const bars = Object.assign(document.createElement("span"), { className: "bars" });
    for (const [mode, views] of [["live", s.liveViews], ["recording", s.recordingViews]]) {
      const bar = Object.assign(document.createElement("span"), { className: `bar ${mode}`, title: `${views} ${mode} views` });
      bar.style.width = `${(100 * views) / most}%`;
      bars.append(bar);
    }
    return [label, bars];
  });
  const legend = Object.assign(document.createElement("span"), { className: "legend",
    textContent: `Blue: live views, orange: recording views (longest bar: ${most}).` });
  $("views-chart").replaceChildren(...rows, legend);
}

// When people watched, in the host's time zone (Event.timeline).
async function loadTimeline() {
  try {
    const data = await api(
      `query EventTimeline($e: ID!, $z: String!, $b: TimelineBucket!) { event(id: $e) { timeline(timeZone: $z, bucket: $b) {
        points { start end uniqueViewers watchedSeconds newViews } } } }`,
      { e: state.eventId, z: state.timeZone, b: state.bucket },
    );
    const points = data.event.timeline.points;
    $("timeline-note").textContent = points.length
      ? `${plural(points.length, state.bucket === "DAY" ? "day" : "hour")} in ${state.timeZone}; ` +
        `busiest: ${busiest(points)}.`
      : "Nobody has watched yet.";
    // The x axis spans the buckets drawn (one day of data is that day, not years).
    const span = points.length
      ? [Date.parse(points[0].start) / 1000, Date.parse(points[points.length - 1].end) / 1000]
      : null;
    chart("timeline-chart", {
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.timeZone),
      axes: [{}, { label: "viewers / views", size: 60 },
        { side: 1, label: "minutes watched", scale: "minutes", grid: { show: false }, size: 70, labelGap: 8 }],
      scales: { x: span ? { time: true, range: () => span } : { time: true }, minutes: {} },
      series: [
        {},
        { label: "Unique viewers", stroke: "#3b6fd8" },
        { label: "New views", stroke: "#1e7b34" },
        { label: "Minutes watched", stroke: "#e0892f", scale: "minutes" },
      ],
    }, [
      points.map((p) => Date.parse(p.start) / 1000),
      points.map((p) => p.uniqueViewers),
      points.map((p) => p.newViews),
      points.map((p) => Math.round(p.watchedSeconds / 60)),
    ]);
  } catch (error) {
    say(error.message);
  }
}

function busiest(points) {
  const top = points.reduce((a, b) => (b.uniqueViewers > a.uniqueViewers ? b : a));
  const options = state.bucket === "DAY"
    ? { timeZone: state.timeZone, dateStyle: "medium" }
    : { timeZone: state.timeZone, dateStyle: "medium", timeStyle: "short" };
  return `${new Date(top.start).toLocaleString(undefined, options)}, ${plural(top.uniqueViewers, "viewer")}`;
}

const DETAIL = `query SessionDetail($e: ID!, $s: ID!) { event(id: $e) { session(id: $s) { ${FIELDS}
  retention(mode: LIVE, buckets: 10) { viewers points { startSecond endSecond percent } }
  recording: retention(mode: RECORDING, buckets: 10) { viewers points { percent } }
  concurrency(bucketSeconds: 60) { peakConcurrentViewers peakAt points { start end viewers } } } } }`;

// Everyone who registered, joined or watched, a page at a time, searchable.
const VIEWER_PAGE = 20;
const VIEWERS = `query SessionViewers($e: ID!, $s: ID!, $after: String, $q: String) { event(id: $e) { session(id: $s) {
  viewers(first: ${VIEWER_PAGE}, after: $after, search: $q, orderBy: LIVE_WATCHED_DESC) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { user { id name } liveWatchedSeconds recordingWatchedSeconds plays livePlays
      recordingPlays rejoined firstActiveAt lastActiveAt liveIntervals { start end } } } } } }`;

// A session's detail: the address says which (#session=ID), so the back button
// and a reload work; it opens where the eye is.
async function openSession(sessionId, { push = false } = {}) {
  if (push && state.selected !== sessionId) history.pushState({ session: sessionId }, "", `#session=${sessionId}`);
  const changed = state.selected !== sessionId;
  state.selected = sessionId;
  if (changed) Object.assign(state, { viewerCursors: [null], viewerPage: 0, viewerSearch: "" });
  $("viewer-search").value = state.viewerSearch ?? "";
  for (const tr of $("sessions").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === sessionId);
  try {
    const data = await api(DETAIL, { e: state.eventId, s: sessionId });
    const session = data.event.session;
    if (!session) throw new ApiError(404800);
    drawDetail(session);
    await loadViewers();
    $("detail").scrollIntoView({ block: "start" });
    closeSocket();
    if (isLive(session)) follow(session.id);
  } catch (error) {
    say(error.message);
  }
}

function closeDetail() {
  state.selected = null;
  closeSocket();
  $("detail").hidden = true;
  for (const tr of $("sessions").tBodies[0].rows) tr.classList.remove("selected");
  $("overview").scrollIntoView({ block: "start" });
}

const hashSession = () => new URLSearchParams(location.hash.slice(1)).get("session");

async function loadViewers() {
  try {
    const data = await api(VIEWERS, {
      e: state.eventId, s: state.selected, after: state.viewerCursors[state.viewerPage], q: state.viewerSearch || null,
    });
    const page = data.event.session.viewers;
    state.viewerCursors[state.viewerPage + 1] = page.pageInfo.endCursor;
    const first = state.viewerPage * VIEWER_PAGE;
    $("viewer-count").textContent = page.totalCount
      ? `${first + 1}–${first + page.nodes.length} of ${plural(page.totalCount, "person")}`.replace("persons", "people")
      : "Nobody yet.";
    $("viewer-previous").disabled = state.viewerPage === 0;
    $("viewer-next").disabled = !page.pageInfo.hasNextPage;
    drawViewers(page.nodes);
  } catch (error) {
    say(error.message);
  }
}

function drawDetail(s) {
  $("detail").hidden = false;
  $("detail-title").textContent = s.title;
  $("detail-kind").textContent = `${kindOf(s)} · ${when(s.startTime)} – ${new Date(s.endTime).toLocaleTimeString(undefined, { timeZone: state.timeZone })}`;
  $("detail-numbers").textContent = s.analyticsAvailable
    ? `${plural(s.liveViews, "live view")}, ${plural(s.recordingViews, "recording view")}, ` +
      `${s.registeredUserCount} registered, ${s.attendeeCount} attended` + (isLive(s) ? " · live now, updating" : "")
    : `${PROVIDERS[s.streamProvider] ?? "This format"} sessions have no watch analytics: ${s.registeredUserCount} registered, ${s.attendeeCount} attended.`;
  const facts = [
    ["Length", duration(s.duration)], ["Avg live watch", duration(s.avgAttendedDuration)],
    ["Avg recording watch", duration(s.avgRecordingDuration)], ["Watched live", duration(s.watchTime?.live)],
    ["Watched recorded", duration(s.watchTime?.recording)], ["Live engagement", percent(s.liveEngagement)],
    ["Recording engagement", percent(s.recordingEngagement)], ["No-shows", s.noShowCount],
  ];
  $("detail-facts").replaceChildren(...facts.flatMap(([name, value]) => [
    Object.assign(document.createElement("dt"), { textContent: name }),
    Object.assign(document.createElement("dd"), { textContent: value ?? "—" }),
  ]));
  if (s.retention) {
    $("retention-note").textContent = `${plural(s.retention.viewers, "live viewer")}, ${plural(s.recording.viewers, "recording viewer")}.`;
    chart("retention-chart", {
      scales: { x: { time: false }, y: { range: [0, 100] } },
      axes: [{ label: "second of the video" }, { label: "% of viewers" }],
      series: [{}, { label: "Live", stroke: "#3b6fd8" }, { label: "Recording", stroke: "#e0892f" }],
    }, [s.retention.points.map((p) => p.startSecond), s.retention.points.map((p) => p.percent), s.recording.points.map((p) => p.percent)]);
  } else {
    $("retention-chart").replaceChildren();
    $("retention-note").textContent = s.analyticsAvailable
      ? "No retention curve: the video's duration is not known yet."
      : "No retention curve for this session.";
  }
  if (s.concurrency) {
    const points = s.concurrency.points;
    const peak = s.concurrency.peakAt
      ? ` at ${new Date(s.concurrency.peakAt).toLocaleTimeString(undefined, { timeZone: state.timeZone })}` : "";
    // Two measures, each named: at once (the API's peak) and in a minute (what is drawn).
    const minute = Math.max(0, ...points.map((p) => p.viewers));
    $("concurrency-note").textContent =
      `Peak: ${plural(s.concurrency.peakConcurrentViewers, "viewer")} at once${peak}; ` +
      `busiest minute on the chart: ${plural(minute, "viewer")}.`;
    const span = points.length ? [Date.parse(points[0].start) / 1000, Date.parse(points[points.length - 1].end) / 1000] : null;
    chart("concurrency-chart", {
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), state.timeZone),
      axes: [{}, { label: "viewers in the minute", size: 60 }],
      scales: { x: span ? { time: true, range: () => span } : { time: true } },
      series: [{}, { label: "Viewers in the minute", stroke: "#b3261e", fill: "rgba(179,38,30,.1)" }],
    }, [points.map((p) => Date.parse(p.start) / 1000), points.map((p) => p.viewers)]);
  } else {
    $("concurrency-chart").replaceChildren();
    $("concurrency-note").textContent = "No live concurrency for this session.";
  }
}

function drawViewers(viewers) {
  const rows = viewers.map((v) => {
    const tr = document.createElement("tr");
    tr.dataset.id = v.user.id;
    tr.append(cell(v.user.name, "name"), cell(duration(v.liveWatchedSeconds), "liveWatched"),
      cell(duration(v.recordingWatchedSeconds), "recordingWatched"), cell(v.plays, "plays"),
      cell(v.rejoined ? "yes" : "no", "rejoined"));
    tr.addEventListener("click", () => showAttendee(v, tr));
    if (v.user.id === state.attendee) showAttendee(v, tr);
    return tr;
  });
  $("viewers").tBodies[0].replaceChildren(...rows);
  if (!viewers.some((v) => v.user.id === state.attendee)) $("attendee").hidden = true;
}

// One attendee's timeline: when they were active, their live spans, their plays.
function showAttendee(v, tr) {
  state.attendee = v.user.id;
  for (const row of $("viewers").tBodies[0].rows) row.classList.toggle("selected", row === tr);
  $("attendee").hidden = false;
  $("attendee-name").textContent = v.user.name;
  const time = (t) => new Date(t).toLocaleTimeString(undefined, { timeZone: state.timeZone });
  $("attendee-summary").textContent = v.firstActiveAt
    ? `Active from ${when(v.firstActiveAt)} to ${when(v.lastActiveAt)} (${state.timeZone}); ` +
      `${plural(v.plays, "play")} (${v.livePlays} live, ${v.recordingPlays} recording)` +
      (v.rejoined ? ", came back." : ".")
    : "Registered, not active yet.";
  $("attendee-intervals").replaceChildren(...v.liveIntervals.map((i) => Object.assign(document.createElement("li"), {
    textContent: `Live ${time(i.start)} – ${time(i.end)} (${duration((Date.parse(i.end) - Date.parse(i.start)) / 1000)})`,
  })));
}

// Live sessions: the server pushes the session when its numbers change (at
// most once a second); the charts are then fetched again.
function follow(sessionId) {
  const socket = new WebSocket(`${location.origin.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
  state.socket = socket;
  socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${state.token}` } }));
  socket.onmessage = async (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "connection_ack") {
      socket.send(JSON.stringify({
        id: "session", type: "subscribe",
        payload: { query: "subscription SessionUpdates($s: ID!) { sessionUpdates(sessionId: $s) { id asOf } }", variables: { s: sessionId } },
      }));
    } else if (data.type === "next" && data.payload.data && state.selected === sessionId) {
      // The cards, the session's row and its detail change together.
      const [fresh] = await Promise.all([api(DETAIL, { e: state.eventId, s: sessionId }), loadPage({ timeline: false })]);
      if (fresh.event.session && state.selected === sessionId) {
        drawDetail(fresh.event.session);
        await loadViewers();
      }
    } else if (data.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    }
  };
  socket.onclose = (event) => {
    if (event.code === 4403) say("Live updates stopped: your sign-in has expired.");
  };
}

function closeSocket() {
  if (state.socket) state.socket.close();
  state.socket = null;
}

async function downloadCsv(event) {
  event.preventDefault();
  const response = await fetch(`/events/${state.eventId}/sessions.csv`, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const code = body.errors?.[0]?.extensions?.code ?? response.status;
    if (code === 401) return signOut(WORDS[401]);
    return say(new ApiError(code, body.errors?.[0]?.message).message);
  }
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(await response.blob()),
    download: `event-${state.eventId}-sessions.csv`,
  });
  link.click();
  URL.revokeObjectURL(link.href);
}

// Webhooks (docs/webhooks.md): endpoints of the event, and one endpoint's deliveries.
const TYPE_NAMES = { SESSION_ENDED: "session.ended", SESSION_UPDATED: "session.updated", EVENT_REPORT: "event.report" };

function button(text, action) {
  return Object.assign(document.createElement("button"), { type: "button", textContent: text, onclick: action });
}

async function loadWebhooks() {
  try {
    const data = await api(
      "query WebhookEndpoints($e: ID!) { event(id: $e) { webhookEndpoints { id url eventTypes enabled } } }",
      { e: state.eventId },
    );
    const rows = data.event.webhookEndpoints.map((w) => {
      const tr = document.createElement("tr");
      tr.dataset.id = w.id;
      const actions = document.createElement("td");
      actions.append(
        button("Deliveries", () => loadDeliveries(w)),
        button("Rotate secret", () => endpointChange(
          "mutation RotateWebhookSecret($w: ID!) { rotateWebhookSecret(id: $w) { secret } }", w.id, (d) => showSecret(d.rotateWebhookSecret.secret))),
        button(w.enabled ? "Disable" : "Enable", () => endpointChange(
          "mutation UpdateWebhookEndpoint($w: ID!, $on: Boolean) { updateWebhookEndpoint(id: $w, input: {enabled: $on}) { id } }", w.id, null, { on: !w.enabled })),
        button("Delete", () => confirm(`Delete the endpoint ${w.url} and its delivery log?`) &&
          endpointChange("mutation DeleteWebhookEndpoint($w: ID!) { deleteWebhookEndpoint(id: $w) }", w.id)),
      );
      tr.append(cell(w.url, "url"), cell(w.eventTypes.map((t) => TYPE_NAMES[t]).join(", "), "eventTypes"),
        cell(w.enabled ? "yes" : "no", "enabled"), actions);
      return tr;
    });
    $("webhook-endpoints").tBodies[0].replaceChildren(...rows);
    if (state.endpoint) {
      const current = data.event.webhookEndpoints.find((w) => w.id === state.endpoint.id);
      if (current) await loadDeliveries(current);
      else hideDeliveries();
    }
  } catch (error) {
    say(error.message);
  }
}

function showSecret(secret) {
  $("webhook-secret").querySelector("code").textContent = secret;
  $("webhook-secret").hidden = false;
}

async function endpointChange(mutation, id, then = null, variables = {}) {
  try {
    const data = await api(mutation, { w: id, ...variables });
    if (then) then(data);
    await loadWebhooks();
  } catch (error) {
    say(error.message);
  }
}

async function addEndpoint(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const data = await api(
      "mutation CreateWebhookEndpoint($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret } }",
      { i: { eventId: state.eventId, url: form.get("url"), eventTypes: form.getAll("type") } },
    );
    showSecret(data.createWebhookEndpoint.secret);
    event.target.reset();
    say("");
    await loadWebhooks();
  } catch (error) {
    say(error.message);
  }
}

function hideDeliveries() {
  state.endpoint = null;
  $("deliveries-title").hidden = true;
  $("webhook-deliveries").hidden = true;
}

async function loadDeliveries(endpoint) {
  state.endpoint = endpoint;
  const data = await api(
    `query WebhookDeliveries($e: ID!) { event(id: $e) { webhookEndpoints { id deliveries(first: 50) { totalCount nodes {
      id eventType status attemptCount createdAt nextAttemptAt attempts { statusCode error } } } } } }`,
    { e: state.eventId },
  );
  const found = data.event.webhookEndpoints.find((w) => w.id === endpoint.id);
  if (!found) return hideDeliveries();
  $("deliveries-title").textContent = `Deliveries to ${endpoint.url} (${found.deliveries.totalCount}, newest first)`;
  $("deliveries-title").hidden = false;
  $("webhook-deliveries").hidden = false;
  const rows = found.deliveries.nodes.map((d) => {
    const tr = document.createElement("tr");
    const last = d.attempts.at(-1);
    const result = !last ? (d.nextAttemptAt ? `waiting, next at ${new Date(d.nextAttemptAt).toLocaleString()}` : "—")
      : last.error ?? `HTTP ${last.statusCode}`;
    const status = cell(d.status, "status");
    status.className = `status-${d.status}`;
    const actions = document.createElement("td");
    if (d.status !== "PENDING") {
      actions.append(button("Resend", () => api("mutation ResendWebhookDelivery($d: ID!) { resendWebhookDelivery(id: $d) { id } }", { d: d.id })
        .then(() => loadDeliveries(endpoint)).catch((error) => say(error.message))));
    }
    tr.append(cell(new Date(d.createdAt).toLocaleString(), "createdAt"), cell(TYPE_NAMES[d.eventType], "eventType"),
      status, cell(d.attemptCount, "attemptCount"), cell(result, "result"), actions);
    return tr;
  });
  $("webhook-deliveries").tBodies[0].replaceChildren(...rows);
}

async function requestReport() {
  try {
    const data = await api("mutation RequestEventReport($e: ID!) { requestEventReport(eventId: $e) }", { e: state.eventId });
    say(data.requestEventReport
      ? `An event report is on its way to ${data.requestEventReport} endpoint(s).`
      : "No enabled endpoint of this event wants event.report.", "info");
    await loadWebhooks();
  } catch (error) {
    say(error.message);
  }
}

function setUpTimeZones() {
  const picker = $("tz-picker");
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  // The names hosts look for first (browsers list some under older aliases,
  // e.g. Asia/Calcutta), then every zone the browser knows.
  const common = ["UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago",
    "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Singapore",
    "Asia/Tokyo", "Australia/Sydney"];
  const all = [...new Set([state.timeZone, ...common, ...zones])];
  picker.replaceChildren(...all.map((z) => new Option(z, z)));
  picker.value = state.timeZone;
  picker.addEventListener("change", () => { state.timeZone = picker.value; loadPage(); });
  $("bucket-picker").addEventListener("change", (event) => { state.bucket = event.target.value; loadTimeline(); });
}

setUpTimeZones();
$("webhook-form").addEventListener("submit", addEndpoint);
$("request-report").addEventListener("click", requestReport);
$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", async () => {
  await api("mutation SignOut { logout }").catch(() => {});
  signOut("You are signed out.");
});
$("event-picker").addEventListener("change", (event) => pickEvent(event.target.value));
$("csv").addEventListener("click", downloadCsv);
$("previous").addEventListener("click", () => { state.page -= 1; loadPage(); });
$("detail-close").addEventListener("click", () => {
  if (history.state?.session) history.back(); // the address goes back too
  else { history.replaceState(null, "", location.pathname); closeDetail(); }
});
window.addEventListener("popstate", () => {
  const id = hashSession();
  if (id) openSession(id);
  else if (state.selected) closeDetail();
});
let viewerTyping;
$("viewer-search").addEventListener("input", (event) => {
  clearTimeout(viewerTyping);
  viewerTyping = setTimeout(() => {
    Object.assign(state, { viewerSearch: event.target.value.trim(), viewerCursors: [null], viewerPage: 0 });
    loadViewers();
  }, 250);
});
$("viewer-previous").addEventListener("click", () => { state.viewerPage -= 1; loadViewers(); });
$("viewer-next").addEventListener("click", () => { state.viewerPage += 1; loadViewers(); });
$("next").addEventListener("click", () => { state.page += 1; loadPage(); });
let typing;
$("search").addEventListener("input", (event) => {
  clearTimeout(typing);
  typing = setTimeout(() => { state.search = event.target.value; state.cursors = [null]; state.page = 0; loadPage(); }, 250);
});
for (const button of document.querySelectorAll("th button")) {
  button.addEventListener("click", () => {
    const sort = button.dataset.sort;
    state.order = sort === "START_TIME" ? (state.order === "START_TIME_ASC" ? "START_TIME_DESC" : "START_TIME_ASC") : sort;
    state.cursors = [null];
    state.page = 0;
    loadPage();
  });
}

if (state.token) start().catch((error) => (error.code === 401 ? signOut(WORDS[401]) : say(error.message)));
else show("sign-in");
