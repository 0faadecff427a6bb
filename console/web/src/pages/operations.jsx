import { api, query } from "../api.js";
import { usePages, useApp, useLoad, useInterval, Loading, Badge, Time, Pre, pretty, Table } from "../ui.jsx";

// Operations lists the project's jobs — batches, interactions, video —
// newest first, as GET /v1/operations answers them.
export function Operations() {
  const { p } = useApp();
  const pages = usePages();
  const list = useLoad(() => api(p("/operations") + query({ pageSize: 25, pageToken: pages.token })), [p, pages.token]);
  useInterval(() => list.reload(), 10000);
  return (
    <section>
      <h1>Operations</h1>
      <Loading state={list}>
        {(d) =>
          !d.operations || d.operations.length === 0 ? (
            <p class="muted">No operations yet.</p>
          ) : (
            <>
              <Table testid="operations" columns={["Name", "Kind", "State", "Created", "Details"]}>
                {d.operations.map((op) => {
                  const md = op.metadata || {};
                  return (
                    <tr>
                      <td>
                        <code>{op.name}</code>
                      </td>
                      <td>{op.name.split("/")[0].replace(/s$/, "") || "video"}</td>
                      <td>
                        <Badge value={md.state || (op.done ? "done" : "running")} />
                      </td>
                      <td>
                        <Time value={md.createTime} />
                      </td>
                      <td>
                        <details>
                          <summary>JSON</summary>
                          <Pre label="Operation" text={pretty(op)} />
                        </details>
                      </td>
                    </tr>
                  );
                })}
              </Table>
              {pages.pager(d.nextPageToken)}
            </>
          )
        }
      </Loading>
    </section>
  );
}
