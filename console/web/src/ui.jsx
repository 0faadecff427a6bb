// Small shared pieces of the console's pages. Everything here renders text
// through Preact, which escapes it: nothing from the server becomes HTML.
import { createContext } from "preact";
import { useContext, useEffect, useRef, useState, useCallback } from "preact/hooks";
import { consoleBase } from "./api.js";

// App is the context every page reads: the session, the project in view,
// the path helper, navigation and the message line.
export const App = createContext(null);
export const useApp = () => useContext(App);

// navigate moves the app to a console path ("/webhooks/wh_…").
export function navigate(to, replace = false) {
  const url = consoleBase + to.replace(/^\//, "");
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  dispatchEvent(new PopStateEvent("popstate"));
}

// Link is an in-app link: a real <a href>, so that it works with the
// keyboard, middle-click and copy, and a push of history on a plain click.
export function Link({ to, children, ...rest }) {
  const onClick = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={consoleBase + to.replace(/^\//, "")} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}

// useLoad runs load when deps change and keeps its result, error and a
// reload function.
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => n === seq.current && setState({ data, error: null, loading: false }),
      (error) => n === seq.current && setState({ data: null, error, loading: false }),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

// useInterval calls f every ms while the page is shown.
export function useInterval(f, ms) {
  const saved = useRef(f);
  saved.current = f;
  useEffect(() => {
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

export function ErrorLine({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

export function Loading({ state, children }) {
  if (state.error) return <ErrorLine error={state.error} />;
  if (!state.data) return <p class="muted">Loading…</p>;
  return children(state.data);
}

// Time shows an RFC 3339 time in the reader's zone, with the exact value
// as a tooltip.
export function Time({ value }) {
  if (!value) return <span class="muted">–</span>;
  const d = new Date(value);
  return (
    <time datetime={value} title={value}>
      {d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" })}
    </time>
  );
}

export function ago(value) {
  if (!value) return "";
  const s = Math.round((Date.now() - new Date(value).getTime()) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function Badge({ value }) {
  const tone =
    {
      enabled: "ok",
      succeeded: "ok",
      closed: "ok",
      SUCCEEDED: "ok",
      pending: "warn",
      half_open: "warn",
      disabled: "muted",
      RUNNING: "warn",
      failed: "bad",
      open: "bad",
      disabled_due_to_failed_deliveries: "bad",
      FAILED: "bad",
      deprecated: "warn",
    }[value] || "muted";
  return <span class={`badge ${tone}`}>{String(value).replaceAll("_", " ")}</span>;
}

// Secret shows a value that is shown once (a signing secret, an API key, a
// portal link) with a copy button.
export function Secret({ label, value, note }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div class="secret" role="group" aria-label={label}>
      <p>
        <strong>{label}</strong> {note}
      </p>
      <div class="secret-row">
        <code class="secret-value" data-testid="secret-value">
          {value}
        </code>
        <button type="button" onClick={copy}>
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
    </div>
  );
}

// Confirm is a button that asks once more, in place, before it acts.
export function Confirm({ label, confirmLabel, question, onConfirm, danger = true }) {
  const [asking, setAsking] = useState(false);
  const yes = useRef(null);
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" class={danger ? "danger" : ""} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="alertdialog" aria-label={question}>
      <span>{question}</span>
      <button
        type="button"
        ref={yes}
        class={danger ? "danger" : ""}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel || label}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

// Pre shows text as it is, never as markup: payloads and receiver answers.
export function Pre({ text, label }) {
  return (
    <pre class="text" tabIndex={0} aria-label={label}>
      {text}
    </pre>
  );
}

// pretty formats a JSON value for reading.
export function pretty(v) {
  return JSON.stringify(v, null, 2);
}

// Field is a labelled form control.
export function Field({ label, hint, children }) {
  return (
    <label class="field">
      <span class="label">{label}</span>
      {children}
      {hint && <span class="hint">{hint}</span>}
    </label>
  );
}

// action wraps a form or button handler: it reports failures on the message
// line and success when told.
export function useAction() {
  const { say } = useApp();
  const [busy, setBusy] = useState(false);
  const run = async (f, done) => {
    setBusy(true);
    try {
      const r = await f();
      if (done) say(done);
      return r;
    } catch (e) {
      say(e.message, true);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return [run, busy];
}

// Chart draws one or two series as small SVG lines or bars, with a text
// summary for screen readers.
export function Chart({ title, points, series, unit = "", bars = false, summary }) {
  const w = 300;
  const h = 80;
  const pad = 2;
  const max = Math.max(1e-9, ...series.flatMap((s) => points.map((p) => p[s.key] ?? 0)));
  const n = Math.max(points.length, 1);
  const x = (i) => pad + (i * (w - 2 * pad)) / Math.max(n - 1, 1);
  const y = (v) => h - pad - ((v ?? 0) / max) * (h - 2 * pad);
  return (
    <figure class="chart">
      <figcaption>
        <span>{title}</span>
        <span class="chart-summary">{summary}</span>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title}: ${summary}`} preserveAspectRatio="none">
        {series.map((s, si) =>
          bars ? (
            <g class={`series s${si}`}>
              {points.map((p, i) => {
                const bw = (w - 2 * pad) / n;
                const v = p[s.key] ?? 0;
                return <rect x={pad + i * bw} y={y(v)} width={Math.max(bw - 1, 1)} height={h - pad - y(v)} />;
              })}
            </g>
          ) : (
            <polyline
              class={`series s${si}`}
              fill="none"
              points={points
                .map((p, i) => (p[s.key] === null || p[s.key] === undefined ? null : `${x(i)},${y(p[s.key])}`))
                .filter(Boolean)
                .join(" ")}
            />
          ),
        )}
      </svg>
      <div class="chart-legend">
        {series.map((s, si) => (
          <span class={`legend s${si}`}>{s.label}</span>
        ))}
        <span class="muted">
          max {fmt(max)}
          {unit}
        </span>
      </div>
    </figure>
  );
}

// Table is a table that scrolls sideways on a narrow screen, with a
// header row of columns.
export function Table({ testid, class: cls, columns, children }) {
  return (
    <div class="scroll">
      <table data-testid={testid} class={cls}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col">{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

// usePages is the position in a paged listing: the stack of page tokens
// that led to the page shown ("" for the first).
export function usePages() {
  const [tokens, setTokens] = useState([""]);
  return {
    token: tokens[tokens.length - 1],
    reset: () => setTokens([""]),
    pager: (next) => <Pager tokens={tokens} setTokens={setTokens} next={next} />,
  };
}

function Pager({ tokens, setTokens, next }) {
  if (tokens.length < 2 && !next) return null;
  return (
    <div class="row">
      {tokens.length > 1 && (
        <button type="button" onClick={() => setTokens(tokens.slice(0, -1))}>
          Newer
        </button>
      )}
      {next && (
        <button type="button" onClick={() => setTokens([...tokens, next])}>
          Older
        </button>
      )}
    </div>
  );
}

export function fmt(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return v.toFixed(digits);
}

export function percent(r) {
  return r === null || r === undefined ? "–" : `${(r * 100).toFixed(r === 1 ? 0 : 1)}%`;
}
