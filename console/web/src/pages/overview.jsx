import { api } from "../api.js";
import { useApp, useLoad, useInterval, Loading, Chart, Badge, Time, fmt, percent, Link, Table } from "../ui.jsx";

// Overview is the last hour of the project's deliveries, minute by minute,
// and the health of each destination.
export function Overview() {
  const { p } = useApp();
  const stats = useLoad(() => api(p("/deliveryStats")), [p]);
  const dests = useLoad(() => api(p("/destinations")), [p]);
  useInterval(() => {
    stats.reload();
    dests.reload();
  }, 10000);
  return (
    <section>
      <h1>Overview</h1>
      <Loading state={stats}>
        {(s) => (
          <>
            <div class="tiles">
              <Tile label="Attempts, last hour" value={fmt(s.attempts)} />
              <Tile label="Success rate" value={percent(s.success_rate)} />
              <Tile label="Latency p50 / p99" value={`${fmt(s.p50_latency_ms)} / ${fmt(s.p99_latency_ms)} ms`} />
              <Tile label="Backlog" value={fmt(s.backlog)} testid="backlog" />
              <Tile label="Open circuits" value={fmt(s.open_circuits)} testid="open-circuits" />
            </div>
            <div class="charts">
              <Chart
                title="Deliveries per minute"
                bars
                points={s.points}
                series={[
                  { key: "succeeded", label: "succeeded" },
                  { key: "failed", label: "failed" },
                ]}
                summary={`${fmt(s.attempts)} attempts`}
              />
              <Chart
                title="Success rate"
                points={s.points.map((x) => ({ rate: x.attempts ? (100 * x.succeeded) / x.attempts : null }))}
                series={[{ key: "rate", label: "% succeeded" }]}
                unit="%"
                summary={percent(s.success_rate)}
              />
              <Chart
                title="Latency"
                points={s.points}
                series={[
                  { key: "p50_latency_ms", label: "p50" },
                  { key: "p99_latency_ms", label: "p99" },
                ]}
                unit=" ms"
                summary={`p50 ${fmt(s.p50_latency_ms)} ms, p99 ${fmt(s.p99_latency_ms)} ms`}
              />
              <Chart
                title="Backlog"
                points={s.points}
                series={[{ key: "backlog", label: "pending" }]}
                summary={`${fmt(s.backlog)} pending`}
              />
            </div>
          </>
        )}
      </Loading>
      <h2>Destinations</h2>
      <Loading state={dests}>{(d) => <Destinations list={d.destinations} />}</Loading>
    </section>
  );
}

function Tile({ label, value, testid }) {
  return (
    <div class="tile">
      <span class="tile-label">{label}</span>
      <span class="tile-value" data-testid={testid}>
        {value}
      </span>
    </div>
  );
}

// Destinations is the health table: one row per destination (scheme, host
// and port), which is what a circuit guards.
export function Destinations({ list }) {
  if (!list || list.length === 0) return <p class="muted">No deliveries in the last hour and none pending.</p>;
  return (
    <Table
      testid="destinations"
      columns={[
        "Destination",
        "Circuit",
        "In flight, at most",
        "Failing since",
        "Success (1 h)",
        "p50 / p99",
        "Backlog",
        "Webhooks",
      ]}
    >
      {list.map((d) => (
        <tr>
          <td>
            <code>{d.destination}</code>
          </td>
          <td>
            <Badge value={d.circuit_state} />
          </td>
          <td title="adapts to how the destination answers">{d.concurrency_limit ?? "–"}</td>
          <td>
            <Time value={d.failing_since} />
          </td>
          <td>
            {percent(d.success_rate)} <span class="muted">of {d.attempts}</span>
          </td>
          <td>
            {fmt(d.p50_latency_ms)} / {fmt(d.p99_latency_ms)} ms
          </td>
          <td>{d.backlog}</td>
          <td>
            {(d.webhooks || []).map((id) => (
              <Link to={`/webhooks/${id}`}>
                <code>{id}</code>
              </Link>
            ))}
          </td>
        </tr>
      ))}
    </Table>
  );
}
