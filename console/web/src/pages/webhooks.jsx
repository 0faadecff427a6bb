import { useState } from "preact/hooks";
import { api, query } from "../api.js";
import {
  useApp,
  useLoad,
  useAction,
  usePages,
  Loading,
  Link,
  Badge,
  Time,
  Secret,
  Confirm,
  Field,
  navigate,
  Table,
} from "../ui.jsx";
import { Destinations } from "./overview.jsx";
import { PortalLinkForm } from "./admin.jsx";

const splitEvents = (s) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);

// Webhooks lists the project's webhooks and creates new ones.
export function Webhooks() {
  const { p, canManage, canProject } = useApp();
  const list = useLoad(() => api(p("/webhooks?page_size=1000")), [p]);
  const [created, setCreated] = useState(null);
  return (
    <section>
      <h1>Webhooks</h1>
      {created && (
        <Secret
          label={`Signing secret of ${created.name || created.id}`}
          note="is shown only now. Copy it into your receiver's configuration."
          value={created.new_signing_secret}
        />
      )}
      <Loading state={list}>
        {(d) =>
          d.webhooks.length === 0 ? (
            <p class="muted">No webhooks yet.</p>
          ) : (
            <Table testid="webhooks" columns={["Name", "URI", "State", "Events"]}>
              {d.webhooks.map((w) => (
                <tr>
                  <td>
                    <Link to={`/webhooks/${w.id}`}>{w.name || w.id}</Link>
                  </td>
                  <td class="wrap">
                    <code>{w.uri}</code>
                  </td>
                  <td>
                    <Badge value={w.state} />
                  </td>
                  <td>{w.subscribed_events.join(", ")}</td>
                </tr>
              ))}
            </Table>
          )
        }
      </Loading>
      {canManage && (
        <CreateWebhook
          onCreated={(w) => {
            setCreated(w);
            list.reload();
          }}
        />
      )}
      {canProject && (
        <div class="card">
          <PortalLinkForm path={p("")} />
        </div>
      )}
    </section>
  );
}

function CreateWebhook({ onCreated }) {
  const { p } = useApp();
  const [form, setForm] = useState({ name: "", uri: "", events: "" });
  const [run, busy] = useAction();
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      const w = await api(p("/webhooks"), {
        method: "POST",
        body: { name: form.name, uri: form.uri, subscribed_events: splitEvents(form.events) },
      });
      setForm({ name: "", uri: "", events: "" });
      onCreated(w);
    }, "Webhook created.");
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-webhook">
      <h2 id="create-webhook">Create a webhook</h2>
      <Field label="Name">
        <input name="name" value={form.name} onInput={set("name")} />
      </Field>
      <Field label="URI" hint="Where the signed POSTs go.">
        <input name="uri" type="url" required value={form.uri} onInput={set("uri")} placeholder="https://example.com/webhooks" />
      </Field>
      <Field label="Events" hint="Event types, separated by commas: batch.succeeded, video.generated, …">
        <input name="events" required value={form.events} onInput={set("events")} />
      </Field>
      <button type="submit" class="primary" disabled={busy}>
        Create
      </button>
    </form>
  );
}

// WebhookDetail shows one webhook with its health and deliveries, and every
// action on it.
export function WebhookDetail({ id }) {
  const { p, canManage } = useApp();
  const wh = useLoad(() => api(p(`/webhooks/${encodeURIComponent(id)}`)), [p, id]);
  const [secret, setSecret] = useState(null);
  return (
    <section>
      <p>
        <Link to="/webhooks">← Webhooks</Link>
      </p>
      <Loading state={wh}>
        {(w) => (
          <>
            <h1>
              {w.name || w.id} <Badge value={w.state} />
            </h1>
            <dl class="facts">
              <dt>ID</dt>
              <dd>
                <code>{w.id}</code>
              </dd>
              <dt>URI</dt>
              <dd class="wrap">
                <code>{w.uri}</code>
              </dd>
              <dt>Events</dt>
              <dd>{w.subscribed_events.join(", ")}</dd>
              <dt>Signing secrets</dt>
              <dd>
                <ul class="plain">
                  {w.signing_secrets.map((s) => (
                    <li>
                      <code>{s.truncated_secret}</code>{" "}
                      {s.expire_time ? (
                        <span class="muted">
                          expires <Time value={s.expire_time} />
                        </span>
                      ) : (
                        <span class="muted">current</span>
                      )}
                    </li>
                  ))}
                </ul>
              </dd>
              <dt>Created</dt>
              <dd>
                <Time value={w.create_time} />
              </dd>
            </dl>
            {secret && (
              <Secret
                label="New signing secret"
                note="is shown only now. Copy it into your receiver's configuration."
                value={secret}
              />
            )}
            {canManage && <Actions w={w} reload={wh.reload} onSecret={setSecret} />}
            <Health uri={w.uri} webhookID={w.id} />
            <Deliveries id={w.id} />
            {canManage && <Edit w={w} reload={wh.reload} />}
          </>
        )}
      </Loading>
    </section>
  );
}

function Actions({ w, reload, onSecret }) {
  const { p } = useApp();
  const [run, busy] = useAction();
  const [behavior, setBehavior] = useState("revoke_previous_secrets_after_h24");
  const path = p(`/webhooks/${encodeURIComponent(w.id)}`);
  const rotate = () =>
    run(async () => {
      const r = await api(`${path}:rotateSigningSecret`, { method: "POST", body: { revocation_behavior: behavior } });
      onSecret(r.secret);
      reload();
    }, "Signing secret rotated.");
  const ping = () =>
    run(() => api(`${path}:ping`, { method: "POST", body: {} }), "Ping sent: a webhook.ping event is on its way.");
  const setState = (state) =>
    run(async () => {
      await api(path + "?update_mask=state", { method: "PATCH", body: { state } });
      reload();
    }, `Webhook ${state}.`);
  const del = () =>
    run(async () => {
      await api(path, { method: "DELETE" });
      navigate("/webhooks");
    }, "Webhook deleted.");
  return (
    <div class="actions card">
      <h2>Actions</h2>
      <div class="row">
        <button type="button" onClick={ping} disabled={busy}>
          Ping
        </button>
        {w.state === "enabled" ? (
          <button type="button" onClick={() => setState("disabled")} disabled={busy}>
            Disable
          </button>
        ) : (
          w.state === "disabled" && (
            <button type="button" onClick={() => setState("enabled")} disabled={busy}>
              Enable
            </button>
          )
        )}
        <Confirm label="Delete" question={`Delete ${w.name || w.id}? Its delivery history is kept.`} onConfirm={del} />
      </div>
      <div class="row">
        <label>
          <span class="label">Rotate the signing secret, and</span>{" "}
          <select value={behavior} onChange={(e) => setBehavior(e.target.value)} aria-label="Revocation behavior">
            <option value="revoke_previous_secrets_after_h24">keep the previous one signing for 24 h</option>
            <option value="revoke_previous_secrets_immediately">revoke the previous one now</option>
          </select>
        </label>
        <button type="button" onClick={rotate} disabled={busy}>
          Rotate secret
        </button>
      </div>
      {w.state === "disabled_due_to_failed_deliveries" && <Recover w={w} reload={reload} />}
    </div>
  );
}

// Recover re-enables a webhook that failed for too long, and retries its
// failed deliveries created since a time.
function Recover({ w, reload }) {
  const { p } = useApp();
  const [run, busy] = useAction();
  const dayAgo = new Date(Date.now() - 86400e3);
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  const [since, setSince] = useState(local(dayAgo));
  const path = p(`/webhooks/${encodeURIComponent(w.id)}`);
  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      await api(path + "?update_mask=state", { method: "PATCH", body: { state: "enabled" } });
      const r = await api(`${path}:recover`, { method: "POST", body: { since: new Date(since).toISOString() } });
      reload();
      return r;
    }, "Webhook re-enabled; its failed deliveries are being retried.");
  };
  return (
    <form class="row recover" onSubmit={submit}>
      <p>Deliveries to this webhook failed for too long, so webhookd disabled it.</p>
      <Field label="Retry failed deliveries created since">
        <input type="datetime-local" value={since} onInput={(e) => setSince(e.target.value)} required />
      </Field>
      <button type="submit" class="primary" disabled={busy}>
        Re-enable and recover
      </button>
    </form>
  );
}

function Edit({ w, reload }) {
  const { p } = useApp();
  const [form, setForm] = useState({ name: w.name || "", uri: w.uri, events: w.subscribed_events.join(", ") });
  const [run, busy] = useAction();
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      await api(p(`/webhooks/${encodeURIComponent(w.id)}?update_mask=name,uri,subscribed_events`), {
        method: "PATCH",
        body: { name: form.name, uri: form.uri, subscribed_events: splitEvents(form.events) },
      });
      reload();
    }, "Webhook saved.");
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="edit-webhook">
      <h2 id="edit-webhook">Edit</h2>
      <Field label="Name">
        <input name="name" value={form.name} onInput={set("name")} />
      </Field>
      <Field label="URI">
        <input name="uri" type="url" required value={form.uri} onInput={set("uri")} />
      </Field>
      <Field label="Events">
        <input name="events" required value={form.events} onInput={set("events")} />
      </Field>
      <button type="submit" disabled={busy}>
        Save
      </button>
    </form>
  );
}

function Health({ webhookID }) {
  const { p } = useApp();
  const d = useLoad(() => api(p("/destinations")), [p]);
  return (
    <>
      <h2>Destination health</h2>
      <Loading state={d}>
        {(x) => <Destinations list={x.destinations.filter((y) => (y.webhooks || []).includes(webhookID))} />}
      </Loading>
    </>
  );
}

// Deliveries lists the webhook's deliveries, newest first, by state.
function Deliveries({ id }) {
  const { p } = useApp();
  const [state, setState] = useState("");
  const pages = usePages();
  const list = useLoad(
    () => api(p(`/webhooks/${encodeURIComponent(id)}/deliveries`) + query({ state, page_size: 25, page_token: pages.token })),
    [p, id, state, pages.token],
  );
  return (
    <>
      <h2>Deliveries</h2>
      <div class="row">
        <label>
          <span class="label">State</span>{" "}
          <select
            value={state}
            onChange={(e) => {
              pages.reset();
              setState(e.target.value);
            }}
          >
            <option value="">any</option>
            <option value="pending">pending</option>
            <option value="succeeded">succeeded</option>
            <option value="failed">failed</option>
          </select>
        </label>
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      </div>
      <Loading state={list}>
        {(d) => (
          <>
            <DeliveryTable list={d.deliveries} />
            {pages.pager(d.next_page_token)}
          </>
        )}
      </Loading>
    </>
  );
}

export function DeliveryTable({ list }) {
  if (list.length === 0) return <p class="muted">No deliveries.</p>;
  return (
    <>
      <Table testid="deliveries" columns={["Event", "State", "Attempts", "Last status", "Last error", "Created"]}>
        {list.map((d) => (
          <tr>
            <td>
              <Link to={`/events/${d.event_id}`}>
                <code>{d.event_id}</code>
              </Link>
            </td>
            <td>
              <Badge value={d.state} />
            </td>
            <td>{d.attempt_count}</td>
            <td>{d.last_status_code || "–"}</td>
            <td class="wrap">{d.last_error}</td>
            <td>
              <Time value={d.create_time} />
            </td>
          </tr>
        ))}
      </Table>
    </>
  );
}
