import { useState } from "preact/hooks";
import { api } from "../api.js";
import { useApp, useLoad, useAction, Loading, Link, Time, Secret, Confirm, Field, Badge, Table } from "../ui.jsx";

// Projects is the admin's list of projects: create one, change its JWT
// audience, open its keys, make a portal link for its customer.
export function Projects() {
  const list = useLoad(() => api("/projects"), []);
  const [form, setForm] = useState({ name: "", audience: "" });
  const [run, busy] = useAction();
  const create = (e) => {
    e.preventDefault();
    run(async () => {
      await api("/projects", { method: "POST", body: form });
      setForm({ name: "", audience: "" });
      list.reload();
    }, "Project created.");
  };
  return (
    <section>
      <h1>Projects</h1>
      <Loading state={list}>
        {(d) => (
          <Table testid="projects" columns={["Name", "ID", "JWT audience", "Created"]}>
            {d.projects.map((pr) => (
              <tr>
                <td>
                  <Link to={`/projects/${pr.id}`}>{pr.name}</Link>
                </td>
                <td>
                  <code>{pr.id}</code>
                </td>
                <td>{pr.audience || <span class="muted">the destination URI</span>}</td>
                <td>
                  <Time value={pr.create_time} />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      <form class="card" onSubmit={create} aria-labelledby="create-project">
        <h2 id="create-project">Create a project</h2>
        <Field label="Name">
          <input name="name" required value={form.name} onInput={(e) => setForm({ ...form, name: e.target.value })} />
        </Field>
        <Field label="JWT audience" hint="The aud claim of this project's dynamic deliveries; empty: the destination URI.">
          <input name="audience" value={form.audience} onInput={(e) => setForm({ ...form, audience: e.target.value })} />
        </Field>
        <button type="submit" class="primary" disabled={busy}>
          Create
        </button>
      </form>
    </section>
  );
}

// Keys is one project, for the admin: its audience, its API keys and its
// portal links.
export function Keys({ id }) {
  const path = `/projects/${encodeURIComponent(id)}`;
  const project = useLoad(() => api(path), [id]);
  const keys = useLoad(() => api(`${path}/keys`), [id]);
  const [created, setCreated] = useState(null);
  const [name, setName] = useState("");
  const [audience, setAudience] = useState(null);
  const [run, busy] = useAction();
  const createKey = (e) => {
    e.preventDefault();
    run(async () => {
      setCreated(await api(`${path}/keys`, { method: "POST", body: { name } }));
      setName("");
      keys.reload();
    }, "API key created.");
  };
  const revoke = (k) =>
    run(async () => {
      await api(`${path}/keys/${encodeURIComponent(k.id)}:revoke`, { method: "POST", body: {} });
      keys.reload();
    }, "API key revoked.");
  const saveAudience = (e) => {
    e.preventDefault();
    run(async () => {
      await api(`${path}?update_mask=audience`, { method: "PATCH", body: { audience } });
      project.reload();
    }, "Audience saved.");
  };
  return (
    <section>
      <p>
        <Link to="/projects">← Projects</Link>
      </p>
      <Loading state={project}>
        {(pr) => (
          <>
            <h1>{pr.name}</h1>
            <form class="row" onSubmit={saveAudience}>
              <Field label="JWT audience">
                <input value={audience ?? pr.audience ?? ""} onInput={(e) => setAudience(e.target.value)} />
              </Field>
              <button type="submit" disabled={busy}>
                Save
              </button>
            </form>
          </>
        )}
      </Loading>
      <h2>API keys</h2>
      {created && <Secret label={`API key ${created.name || created.id}`} note="is shown only now." value={created.key_string} />}
      <Loading state={keys}>
        {(d) => (
          <Table testid="keys" columns={["Name", "Starts with", "Created", "State", <span class="sr-only">Actions</span>]}>
            {d.keys.map((k) => (
              <tr>
                <td>{k.name || <code>{k.id}</code>}</td>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                <td>
                  <Time value={k.create_time} />
                </td>
                <td>{k.revoke_time ? <Badge value="revoked" /> : <Badge value="enabled" />}</td>
                <td>
                  {!k.revoke_time && (
                    <Confirm
                      label="Revoke"
                      question={`Revoke ${k.name || k.id}? Running servers refuse it within 5 s.`}
                      onConfirm={() => revoke(k)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
      <form class="row" onSubmit={createKey}>
        <Field label="New key's name">
          <input value={name} onInput={(e) => setName(e.target.value)} />
        </Field>
        <button type="submit" class="primary" disabled={busy}>
          Create key
        </button>
      </form>
      <PortalLinkForm path={path} />
    </section>
  );
}

// PortalLinkForm makes a portal link for the project at path: a link that
// opens this console for that project alone, with a role, until it expires.
export function PortalLinkForm({ path }) {
  const [link, setLink] = useState(null);
  const [role, setRole] = useState("view");
  const [ttl, setTTL] = useState("1h");
  const [run, busy] = useAction();
  const portal = (e) => {
    e.preventDefault();
    run(
      async () => setLink(await api(`${path}:createPortalLink`, { method: "POST", body: { role, ttl } })),
      "Portal link created.",
    );
  };
  return (
    <>
      <h2>Portal link</h2>
      <p class="muted">A link that opens this console for this project alone, for its customer, until it expires.</p>
      {link && (
        <Secret
          label="Portal link"
          note={`(${link.role.replace("_", " ")}) works until ${new Date(link.expire_time).toLocaleString()}.`}
          value={link.url}
        />
      )}
      <form class="row" onSubmit={portal}>
        <Field label="Role">
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="view">view</option>
            <option value="manage_webhooks">manage webhooks</option>
          </select>
        </Field>
        <Field label="Valid for">
          <select value={ttl} onChange={(e) => setTTL(e.target.value)}>
            <option value="15m">15 minutes</option>
            <option value="1h">1 hour</option>
            <option value="8h">8 hours</option>
            <option value="24h">24 hours</option>
          </select>
        </Field>
        <button type="submit" disabled={busy}>
          Create portal link
        </button>
      </form>
    </>
  );
}
