import { useState } from "preact/hooks";
import { api, query } from "../api.js";
import { useApp, useLoad, useInterval, Loading, Badge, Time, Pre, pretty } from "../ui.jsx";

// Operations lists the project's jobs — batches, interactions, video —
// newest first, as GET /v1/operations answers them.
export function Operations() {
  const { p } = useApp();
  const [tokens, setTokens] = useState([""]);
  const token = tokens[tokens.length - 1];
  const list = useLoad(() => api(p("/operations") + query({ pageSize: 25, pageToken: token })), [p, token]);
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
              <div class="scroll">
                <table data-testid="operations">
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Kind</th>
                      <th scope="col">State</th>
                      <th scope="col">Created</th>
                      <th scope="col">Details</th>
                    </tr>
                  </thead>
                  <tbody>
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
                  </tbody>
                </table>
              </div>
              <div class="row">
                {tokens.length > 1 && (
                  <button type="button" onClick={() => setTokens(tokens.slice(0, -1))}>
                    Newer
                  </button>
                )}
                {d.nextPageToken && (
                  <button type="button" onClick={() => setTokens([...tokens, d.nextPageToken])}>
                    Older
                  </button>
                )}
              </div>
            </>
          )
        }
      </Loading>
    </section>
  );
}
