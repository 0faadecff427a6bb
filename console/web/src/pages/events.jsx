import { useState } from "preact/hooks";
import { api, query } from "../api.js";
import {
  usePages,
  useApp,
  useLoad,
  useAction,
  useInterval,
  Loading,
  Link,
  Badge,
  Time,
  Pre,
  pretty,
  Field,
  navigate,
  Table,
} from "../ui.jsx";

const toISO = (local) => (local ? new Date(local).toISOString() : "");

// Events searches the project's events: by type, time range and the state
// of their deliveries, newest first.
export function Events() {
  const { p } = useApp();
  const [filter, setFilter] = useState({ type: "", start: "", end: "", state: "" });
  const [applied, setApplied] = useState(filter);
  const pages = usePages();
  const [goto, setGoto] = useState("");
  const list = useLoad(
    () =>
      api(
        p("/events") +
          query({
            type: applied.type.trim(),
            start_time: toISO(applied.start),
            end_time: toISO(applied.end),
            delivery_state: applied.state,
            page_size: 25,
            page_token: pages.token,
          }),
      ),
    [p, applied, pages.token],
  );
  const set = (k) => (e) => setFilter({ ...filter, [k]: e.target.value });
  const search = (e) => {
    e.preventDefault();
    pages.reset();
    setApplied({ ...filter });
  };
  return (
    <section>
      <h1>Events</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (goto.trim()) navigate(`/events/${encodeURIComponent(goto.trim())}`);
        }}
      >
        <Field label="Event ID">
          <input value={goto} onInput={(e) => setGoto(e.target.value)} placeholder="msg_…" />
        </Field>
        <button type="submit">Open</button>
      </form>
      <form class="filters" onSubmit={search} aria-label="Search events">
        <Field label="Type">
          <input name="type" value={filter.type} onInput={set("type")} placeholder="batch.succeeded" />
        </Field>
        <Field label="From">
          <input type="datetime-local" value={filter.start} onInput={set("start")} />
        </Field>
        <Field label="To">
          <input type="datetime-local" value={filter.end} onInput={set("end")} />
        </Field>
        <Field label="Delivery state">
          <select value={filter.state} onChange={set("state")}>
            <option value="">any</option>
            <option value="pending">a delivery pending</option>
            <option value="succeeded">a delivery succeeded</option>
            <option value="failed">a delivery failed</option>
          </select>
        </Field>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <Loading state={list}>
        {(d) =>
          d.events.length === 0 ? (
            <p class="muted">No events match.</p>
          ) : (
            <>
              <Table testid="events" columns={["Event", "Type", "Created", "Deliveries"]}>
                {d.events.map((ev) => (
                  <tr>
                    <td>
                      <Link to={`/events/${ev.id}`}>
                        <code>{ev.id}</code>
                      </Link>
                    </td>
                    <td>{ev.type}</td>
                    <td>
                      <Time value={ev.create_time} />
                    </td>
                    <td>{ev.delivery_count}</td>
                  </tr>
                ))}
              </Table>
              {pages.pager(d.next_page_token)}
            </>
          )
        }
      </Loading>
    </section>
  );
}

// EventDetail shows an event's payload, as text, and every delivery with
// every attempt.
export function EventDetail({ id }) {
  const { p } = useApp();
  const ev = useLoad(() => api(p(`/events/${encodeURIComponent(id)}`)), [p, id]);
  const ds = useLoad(() => api(p(`/events/${encodeURIComponent(id)}/deliveries`)), [p, id]);
  // While a delivery is on its way, follow it.
  useInterval(() => {
    if (ds.data && ds.data.deliveries.some((d) => d.state === "pending")) ds.reload();
  }, 2000);
  return (
    <section>
      <p>
        <Link to="/events">← Events</Link>
      </p>
      <Loading state={ev}>
        {(e) => (
          <>
            <h1>
              <code>{e.id}</code>
            </h1>
            <dl class="facts">
              <dt>Type</dt>
              <dd>{e.type}</dd>
              <dt>Created</dt>
              <dd>
                <Time value={e.create_time} />
              </dd>
              {e.idempotency_key && (
                <>
                  <dt>Idempotency key</dt>
                  <dd>
                    <code>{e.idempotency_key}</code>
                  </dd>
                </>
              )}
            </dl>
            <h2>Payload data</h2>
            <Pre text={pretty(e.data)} label="Event data" />
          </>
        )}
      </Loading>
      <h2>Deliveries</h2>
      <div class="row">
        <button type="button" onClick={ds.reload}>
          Refresh
        </button>
      </div>
      <Loading state={ds}>
        {(d) =>
          d.deliveries.length === 0 ? (
            <p class="muted">This event went to no destination.</p>
          ) : (
            d.deliveries.map((x) => <Delivery d={x} reload={ds.reload} />)
          )
        }
      </Loading>
    </section>
  );
}

function Delivery({ d, reload }) {
  const { p, canManage } = useApp();
  const [run, busy] = useAction();
  const retry = () =>
    run(async () => {
      await api(p(`/deliveries/${encodeURIComponent(d.id)}:retry`), { method: "POST", body: {} });
      reload();
    }, "Delivery retried: it is due now.");
  return (
    <article class="card delivery" data-testid="delivery" aria-label={`Delivery ${d.id}`}>
      <header class="row">
        <Badge value={d.state} />
        <code class="wrap">{d.uri}</code>
        {d.webhook_id && (
          <Link to={`/webhooks/${d.webhook_id}`}>
            <code>{d.webhook_id}</code>
          </Link>
        )}
        <span class="muted">{d.kind}</span>
        {canManage && (
          <button type="button" onClick={retry} disabled={busy}>
            Retry now
          </button>
        )}
      </header>
      {d.next_attempt_time && (
        <p class="muted">
          Next attempt <Time value={d.next_attempt_time} />
        </p>
      )}
      {d.last_error && d.attempts.length === 0 && <p class="error-text">{d.last_error}</p>}
      {d.attempts.length > 0 && (
        <Table testid="attempts" class="attempts" columns={["#", "Time", "Duration", "Status", "Stage", "Error"]}>
          {d.attempts.map((a) => (
            <>
              <tr>
                <td>{a.number}</td>
                <td>
                  <Time value={a.time} />
                </td>
                <td>{a.latency_ms} ms</td>
                <td data-testid="attempt-status">{a.status_code || "–"}</td>
                <td>{a.error_stage || "–"}</td>
                <td class="wrap">{a.error || ""}</td>
              </tr>
              {(a.response_body || a.response_headers) && (
                <tr class="response">
                  <td colSpan={6}>
                    <details>
                      <summary>Receiver's answer</summary>
                      {a.response_headers && (
                        <Pre
                          label="Response headers"
                          text={Object.entries(a.response_headers)
                            .map(([k, v]) => `${k}: ${v}`)
                            .join("\n")}
                        />
                      )}
                      <Pre label="Response body" text={a.response_body || "(empty)"} />
                    </details>
                  </td>
                </tr>
              )}
            </>
          ))}
        </Table>
      )}
    </article>
  );
}
