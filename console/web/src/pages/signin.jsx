import { useState } from "preact/hooks";
import { session } from "../api.js";
import { ErrorLine, Field } from "../ui.jsx";

// exchangePortalToken turns a portal link's token into a session.
export function exchangePortalToken(token) {
  return session.signIn({ portal_token: token });
}

// SignIn takes a project's API key or the admin key. The key goes to the
// server once, in a POST body; the browser keeps only the HttpOnly session
// cookie the answer sets.
export function SignIn({ onSignedIn }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await session.signIn({ api_key: key.trim() });
      setKey("");
      onSignedIn(s);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>webhookd console</h1>
      <form onSubmit={submit} class="card">
        <Field label="API key" hint="A project's API key, or the admin key (WEBHOOKD_ADMIN_KEY).">
          <input
            type="password"
            name="api_key"
            autocomplete="off"
            required
            value={key}
            onInput={(e) => setKey(e.target.value)}
            autofocus
          />
        </Field>
        <ErrorLine error={error} />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      <p class="muted">Opened a portal link? It signs you in by itself; if it has expired, ask for a new one.</p>
    </main>
  );
}
