// The page a verification link opens: /verify-email#token=...
// The token travels in the fragment, which the browser sends to no server (no
// access log or Referer has it). Confirming takes a click: a mail scanner that
// opens links does not verify anyone (public API: verifyEmail).
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.hash.slice(1)).get("token");

function say(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

async function confirm(event) {
  event.preventDefault();
  $("confirm").querySelector("button").disabled = true;
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        query: "mutation VerifyEmail($t: String!) { verifyEmail(token: $t) { email emailVerified } }",
        variables: { t: token },
      }),
    });
    const body = await response.json();
    if (body.errors) throw new Error(body.errors[0].message);
    $("confirm").hidden = true;
    history.replaceState(null, "", location.pathname); // the used token leaves the address bar
    say(`${body.data.verifyEmail.email} is confirmed. You may close this page.`);
  } catch (error) {
    $("confirm").querySelector("button").disabled = false;
    say(error.message);
  }
}

if (token) {
  $("confirm").hidden = false;
  $("confirm").addEventListener("submit", confirm);
} else {
  say("This page opens from the link in a verification message; this address has no token.");
}
