// The webhookd console: sign in, then look at and act on one project's
// webhooks, events and deliveries — all through the public API.
import { render } from "preact";
import { useEffect, useState, useCallback } from "preact/hooks";
import { api, session, APIError } from "./api.js";
import { App, Link, navigate } from "./ui.jsx";
import { SignIn, exchangePortalToken } from "./pages/signin.jsx";
import { Overview } from "./pages/overview.jsx";
import { Webhooks, WebhookDetail } from "./pages/webhooks.jsx";
import { Events, EventDetail } from "./pages/events.jsx";
import { EventTypes } from "./pages/eventtypes.jsx";
import { Tail } from "./pages/tail.jsx";
import { Operations } from "./pages/operations.jsx";
import { Projects, Keys } from "./pages/admin.jsx";
import { consoleBase } from "./api.js";

// Access levels, as the API orders them (api/access.go).
const levels = { view: 1, manage_webhooks: 2, project: 3, admin: 4 };

function levelOf(s) {
  if (!s) return 0;
  if (s.kind === "portal") return levels[s.role] || 0;
  return levels[s.kind] || 0;
}

function currentPath() {
  const p = location.pathname.startsWith(consoleBase) ? location.pathname.slice(consoleBase.length) : "";
  return "/" + p.replace(/\/+$/, "");
}

// routes maps a path to its page, and the least access it needs.
function route(path) {
  const seg = path.split("/").filter(Boolean).map(decodeURIComponent);
  switch (seg[0]) {
    case undefined:
    case "overview":
      return { page: Overview, need: 1, nav: "overview" };
    case "webhooks":
      return seg[1]
        ? { page: WebhookDetail, id: seg[1], need: 1, nav: "webhooks" }
        : { page: Webhooks, need: 1, nav: "webhooks" };
    case "events":
      return seg[1] ? { page: EventDetail, id: seg[1], need: 1, nav: "events" } : { page: Events, need: 1, nav: "events" };
    case "eventTypes":
      return { page: EventTypes, need: 1, nav: "eventTypes" };
    case "tail":
      return { page: Tail, need: 1, nav: "tail" };
    case "operations":
      return { page: Operations, need: 3, nav: "operations" };
    case "projects":
      return seg[1] ? { page: Keys, id: seg[1], need: 4, nav: "projects" } : { page: Projects, need: 4, nav: "projects" };
    case "signin":
      return { page: null, nav: "signin" };
  }
  return { page: NotFound, need: 0 };
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no such page. <Link to="/overview">Go to the overview.</Link>
      </p>
    </section>
  );
}

const navItems = [
  ["overview", "Overview", 1],
  ["webhooks", "Webhooks", 1],
  ["events", "Events", 1],
  ["eventTypes", "Event types", 1],
  ["tail", "Live tail", 1],
  ["operations", "Operations", 3],
  ["projects", "Projects", 4],
];

function Main() {
  const [sess, setSess] = useState(undefined); // undefined: not known yet; null: signed out
  const [path, setPath] = useState(currentPath());
  const [message, setMessage] = useState(null);
  const [adminProject, setAdminProject] = useState(sessionStorage.getItem("webhookd.project") || "");
  const [projects, setProjects] = useState([]);

  useEffect(() => {
    const onPop = () => setPath(currentPath());
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);

  // A portal link carries its token in the fragment: exchange it for a
  // session at once and take it out of the address bar and the history.
  useEffect(() => {
    (async () => {
      const token = new URLSearchParams(location.hash.slice(1)).get("portal");
      if (token) {
        history.replaceState(null, "", location.pathname + location.search);
        try {
          setSess(await exchangePortalToken(token));
          navigate("/webhooks", true);
          return;
        } catch (e) {
          setMessage({ text: e.message, error: true });
          setSess(null);
          return;
        }
      }
      try {
        setSess(await session.get());
      } catch {
        setSess(null);
      }
    })();
  }, []);

  useEffect(() => {
    if (sess && sess.kind === "admin") {
      api("/projects").then(
        (r) => {
          setProjects(r.projects);
          if (!r.projects.some((p) => p.id === adminProject) && r.projects.length > 0) {
            setAdminProject(r.projects[0].id);
          }
        },
        () => {},
      );
    }
  }, [sess]);

  useEffect(() => {
    if (adminProject) sessionStorage.setItem("webhookd.project", adminProject);
  }, [adminProject]);

  // Signing in replaces the form that had the focus: the keyboard's path
  // starts again at the top of the page (the skip link), not wherever in
  // the new page the form happened to stand.
  const signedIn = !!sess;
  useEffect(() => {
    if (!signedIn) return;
    const body = document.body;
    body.tabIndex = -1;
    body.focus({ preventScroll: true });
    body.removeAttribute("tabindex");
  }, [signedIn]);

  const say = useCallback((text, error = false) => setMessage({ text, error, at: Date.now() }), []);

  const onSignedOut = useCallback(() => {
    setSess(null);
    navigate("/signin", true);
  }, []);

  if (sess === undefined) return <p class="muted boot">Loading…</p>;
  if (!sess) {
    return (
      <App.Provider value={{ say }}>
        <Message message={message} />
        <SignIn
          onSignedIn={(s) => {
            setMessage(null);
            setSess(s);
            navigate(s.kind === "portal" ? "/webhooks" : "/overview", true);
          }}
        />
      </App.Provider>
    );
  }

  const level = levelOf(sess);
  const project = sess.kind === "admin" ? adminProject : sess.project.id;
  const projectName = sess.kind === "admin" ? projects.find((p) => p.id === project)?.name || project : sess.project.name;
  const scoped = (p) => `/projects/${encodeURIComponent(project)}${p}`;
  const r = route(path);
  const ctx = {
    session: sess,
    level,
    canManage: level >= levels.manage_webhooks,
    canProject: level >= levels.project,
    isAdmin: level >= levels.admin,
    project,
    p: scoped,
    say,
    onSessionError: (e) => {
      if (e instanceof APIError && e.status === 401) onSignedOut();
    },
  };

  const signOut = async () => {
    try {
      await session.signOut();
    } finally {
      onSignedOut();
    }
  };

  let content;
  if (r.nav === "signin") {
    navigate("/overview", true);
    content = null;
  } else if (level < r.need) {
    content = (
      <section>
        <h1>Not available</h1>
        <p>This sign-in may not see this page.</p>
      </section>
    );
  } else if (!project && r.need < 4) {
    content = (
      <section>
        <h1>No project</h1>
        <p>
          There is no project yet. <Link to="/projects">Create one.</Link>
        </p>
      </section>
    );
  } else {
    const Page = r.page;
    content = <Page id={r.id} key={`${project}/${path}`} />;
  }

  return (
    <App.Provider value={ctx}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          <Link to="/overview">webhookd</Link>
        </div>
        <div class="who" data-testid="who">
          {sess.kind === "admin" ? (
            <label>
              <span class="sr-only">Project</span>
              <select value={project} onChange={(e) => setAdminProject(e.target.value)} aria-label="Project">
                {projects.map((p) => (
                  <option value={p.id}>{p.name}</option>
                ))}
              </select>
              <span class="badge muted">admin</span>
            </label>
          ) : (
            <span>
              {projectName}{" "}
              <span class="badge muted">{sess.kind === "portal" ? sess.role.replace("_", " ") : "project key"}</span>
            </span>
          )}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
        <nav aria-label="Main">
          <ul>
            {navItems
              .filter(([, , need]) => level >= need)
              .map(([id, label]) => (
                <li>
                  <Link to={`/${id}`} aria-current={r.nav === id ? "page" : undefined}>
                    {label}
                  </Link>
                </li>
              ))}
          </ul>
        </nav>
      </header>
      <Message message={message} />
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </App.Provider>
  );
}

function Message({ message }) {
  return (
    <div class="messages" role="status" aria-live="polite">
      {message && <p class={message.error ? "error" : "ok"}>{message.text}</p>}
    </div>
  );
}

render(<Main />, document.getElementById("app"));
