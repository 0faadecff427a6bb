import { useEffect, useRef, useState } from "preact/hooks";
import { streamURL } from "../api.js";
import { useApp, Link, Badge, Time, Table } from "../ui.jsx";

const keep = 200;

// Tail shows attempts as they happen, from the server-sent events of
// GET /v1/…/deliveries:stream.
export function Tail() {
  const { p } = useApp();
  const [items, setItems] = useState([]);
  const [status, setStatus] = useState("connecting");
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  useEffect(() => {
    const es = new EventSource(streamURL(p("/deliveries:stream")), { withCredentials: true });
    es.onopen = () => setStatus("live");
    es.onerror = () => setStatus("reconnecting");
    es.addEventListener("attempt", (e) => {
      if (pausedRef.current) return;
      const a = JSON.parse(e.data);
      setItems((xs) => [a, ...xs].slice(0, keep));
    });
    return () => es.close();
  }, [p]);
  return (
    <section>
      <h1>Live tail</h1>
      <div class="row">
        <span role="status" data-testid="tail-status">
          <Badge value={status === "live" ? "enabled" : "pending"} /> {status}
        </span>
        <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused}>
          {paused ? "Resume" : "Pause"}
        </button>
        <button type="button" onClick={() => setItems([])}>
          Clear
        </button>
      </div>
      {items.length === 0 ? (
        <p class="muted">Waiting for attempts…</p>
      ) : (
        <Table testid="tail" columns={["Time", "Event", "Destination", "Outcome", "Status", "Duration", "Error"]}>
          {items.map((a) => (
            <tr>
              <td>
                <Time value={a.time} />
              </td>
              <td>
                <Link to={`/events/${a.event_id}`}>
                  <code>{a.event_id}</code>
                </Link>{" "}
                {a.event_type}
              </td>
              <td class="wrap">
                <code>{a.uri}</code>
              </td>
              <td>
                <Badge value={a.outcome === "retry" ? "pending" : a.outcome} />
              </td>
              <td>{a.status_code || "–"}</td>
              <td>{a.latency_ms} ms</td>
              <td class="wrap">{a.error}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
