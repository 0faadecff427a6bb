import { api } from "../api.js";
import { useApp, useLoad, Loading, Badge, Time, Table, Pre, pretty } from "../ui.jsx";

// EventTypes lists the types the project may publish and subscribe to:
// the built-in catalog, the operator's, and the project's own (defined
// with POST /v1/eventTypes), with their schemas. Deprecated types are
// marked; they still deliver.
export function EventTypes() {
  const { p } = useApp();
  const list = useLoad(() => api(p("/eventTypes?page_size=1000")), [p]);
  return (
    <section>
      <h1>Event types</h1>
      <p class="muted">
        A webhook subscribes to a name or to a prefix wildcard such as <code>order.*</code>. The project defines its own types,
        with an optional JSON Schema for their data, with <code>POST /v1/eventTypes</code>.
      </p>
      <Loading state={list}>
        {(d) => (
          <Table testid="event-types" columns={["Name", "Origin", "Description", "Schema", "Updated"]}>
            {d.event_types.map((t) => (
              <tr data-deprecated={t.deprecated ? "true" : undefined}>
                <td>
                  <code>{t.name}</code> {t.deprecated && <Badge value="deprecated" />}
                </td>
                <td>{t.origin}</td>
                <td class="wrap">{t.description}</td>
                <td>
                  {t.schema ? <Pre label={`Schema of ${t.name}`} text={pretty(t.schema)} /> : <span class="muted">none</span>}
                </td>
                <td>{t.update_time ? <Time value={t.update_time} /> : <span class="muted">built in</span>}</td>
              </tr>
            ))}
          </Table>
        )}
      </Loading>
    </section>
  );
}
