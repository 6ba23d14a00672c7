// An attendee's watch page: sign in, register, play, and the tracker reports
// what was played. Public API only (watchSession, registerForSession,
// joinSession; the tracker's recordWatch).
import { track } from "/tracker.js?v=2";

const $ = (id) => document.getElementById(id);
const sessionId = decodeURIComponent(location.pathname.split("/").pop());
let token = sessionStorage.getItem("token");
let handle = null;

const WORDS = {
  401: "Your sign-in has expired or is not valid. Please sign in again.",
  404800: "This session does not exist.",
};

async function api(query, variables = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  const error = body.errors?.[0];
  if (error) {
    const code = error.extensions?.code;
    if (code === 401) { token = null; sessionStorage.removeItem("token"); }
    throw Object.assign(new Error(WORDS[code] ?? error.message), { code });
  }
  return body.data;
}

function say(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const data = await api("mutation SignIn($e: String!, $p: String!) { login(email: $e, password: $p) { token user { name } } }",
      { e: form.get("email"), p: form.get("password") });
    token = data.login.token;
    sessionStorage.setItem("token", token);
    say("");
    await open();
  } catch (error) {
    say(error.message);
  }
}

async function signOut() {
  $("media").pause();
  if (handle) { await handle.stop().catch(() => {}); handle = null; } // what was played is sent
  try { await api("mutation SignOut { logout }"); } catch { /* the token may be dead already */ }
  token = null;
  sessionStorage.removeItem("token");
  $("player").hidden = true;
  $("verify").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  say("You are signed out.");
  $("sign-in").hidden = false;
}

async function open() {
  $("sign-out").hidden = !token;
  if (!token) { $("sign-in").hidden = false; return; }
  try {
    const data = await api(`query WatchSession($s: ID!) { me { name } watchSession(sessionId: $s) {
      id title startTime endTime duration analyticsAvailable registered joined } }`, { s: sessionId });
    show(data.me, data.watchSession);
  } catch (error) {
    $("sign-in").hidden = Boolean(token);
    say(error.message);
    // A listed address counts once verified: offer the link (the server's message says so).
    $("verify").hidden = !(error.code === 4030202 && /verified/.test(error.message));
  }
}

async function sendVerification() {
  try {
    const data = await api("mutation RequestEmailVerification { requestEmailVerification }");
    say(data.requestEmailVerification
      ? "A link is on its way to your address: open it, then come back to this page."
      : "Your address is verified already.");
  } catch (error) {
    say(error.message);
  }
}

function show(me, session) {
  $("sign-in").hidden = true;
  $("player").hidden = false;
  $("who").textContent = `Signed in as ${me.name}`;
  $("title").textContent = session.title;
  const start = new Date(session.startTime);
  const end = new Date(session.endTime);
  $("when").textContent = `${start.toLocaleString()} – ${end.toLocaleTimeString()}`;
  const now = Date.now();
  $("mode").value = now >= start.getTime() && now < end.getTime() ? "LIVE" : "RECORDING";
  $("register").textContent = session.registered ? "Registered" : "Register";
  $("register").disabled = session.registered;
  $("register").onclick = async () => {
    await api("mutation RegisterForSession($s: ID!) { registerForSession(sessionId: $s) }", { s: sessionId });
    $("register").textContent = "Registered";
    $("register").disabled = true;
  };
  const media = $("media");
  media.src = `/media/clip-${Math.min(session.duration ?? 60, 600)}.wav`;
  let joined = session.joined;
  media.addEventListener("play", async () => {
    if (!joined) { joined = true; await api("mutation JoinSession($s: ID!) { joinSession(sessionId: $s) }", { s: sessionId }); }
  });
  if (!session.analyticsAvailable) {
    $("reported").textContent = "This session's provider streams elsewhere: nothing is reported.";
    return;
  }
  const attach = () => {
    if (handle) handle.stop();
    handle = track(media, {
      endpoint: "/graphql", token, sessionId, mode: $("mode").value, streamStart: session.startTime,
      onReport: () => report(),
      onError: (error) => say(`Reporting stopped: ${error.message}`),
    });
    window.watchTracker = handle; // for a look from the console (and the browser tests)
  };
  const report = () => {
    const seconds = (ranges) => ranges.reduce((sum, [a, b]) => sum + b - a, 0);
    const { watched, acknowledged } = handle.state();
    $("reported").textContent = `Played ${seconds(watched)} s; the server has ${seconds(acknowledged)} s.`;
  };
  $("mode").onchange = attach;
  attach();
}

$("sign-in").addEventListener("submit", signIn);
$("verify").addEventListener("click", sendVerification);
$("sign-out").addEventListener("click", signOut);
open();
