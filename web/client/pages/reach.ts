/**
 * Reachability: the current environment's pods × pods matrix for a protocol and port as a heat map — allowed,
 * denied, and the cells where Contrail and Kubernetes NetworkPolicy semantics disagree. A cell opens its trace.
 * Up to TABLE_LIMIT pods it is a table (names readable, every cell a link); beyond, a canvas (a million cells
 * would be a million DOM nodes) with the cell under the pointer named beside it.
 */
import { errorBox, getJson, h } from "../dom";

interface MatrixView {
  proto: string;
  port?: number;
  pods: { name: string; node?: string; ip: string }[];
  rows: string[];
  divergent: number;
}

const TABLE_LIMIT = 120;

const MEANING: Record<string, { cls: string; text: string }> = {
  ".": { cls: "allow", text: "allowed (Kubernetes agrees)" },
  x: { cls: "deny", text: "blocked (Kubernetes agrees)" },
  D: { cls: "deny diverge", text: "blocked by Contrail; Kubernetes allows it" },
  A: { cls: "allow diverge", text: "allowed by Contrail; Kubernetes denies it" },
};
const COLOURS: Record<string, string> = {
  ".": "#3c9d5d",
  x: "#c0392b",
  D: "#e67e22",
  A: "#8e44ad",
  " ": "#ddd",
};

export async function reachPage(params: URLSearchParams): Promise<HTMLElement> {
  const proto = params.get("proto") ?? "icmp";
  const port = params.get("port") ?? "";
  const namespaces = params.get("namespaces") ?? "";
  const protoSel = h(
    "select",
    { name: "proto", "aria-label": "protocol" },
    ["icmp", "tcp", "udp", "sctp"].map((p) =>
      h("option", { value: p, ...(p === proto ? { selected: true } : {}) }, p),
    ),
  ) as HTMLSelectElement;
  const portIn = h("input", {
    name: "port",
    type: "number",
    min: 1,
    max: 65535,
    placeholder: "port",
    value: port,
    "aria-label": "port",
  }) as HTMLInputElement;
  const nsIn = h("input", {
    name: "namespaces",
    placeholder: "namespaces (all)",
    value: namespaces,
    "aria-label": "namespaces, comma-separated",
  }) as HTMLInputElement;
  const form = h(
    "form",
    {
      class: "controls",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const p = protoSel.value === "icmp" ? "" : portIn.value;
        const q = new URLSearchParams({
          proto: protoSel.value,
          ...(p ? { port: p } : {}),
          ...(nsIn.value.trim() ? { namespaces: nsIn.value.replace(/\s+/g, "") } : {}),
        });
        location.hash = `#/reach?${q}`;
      },
    },
    protoSel,
    portIn,
    nsIn,
    h("button", { type: "submit" }, "Show"),
  );
  const q = new URLSearchParams({
    proto,
    ...(port && proto !== "icmp" ? { port } : {}),
    ...(namespaces ? { namespaces } : {}),
  });
  let body: HTMLElement;
  try {
    const m = await getJson<MatrixView>(`/api/matrix?${q}`);
    body = m.pods.length <= TABLE_LIMIT ? matrixTable(m) : matrixCanvas(m);
    body = h(
      "div",
      null,
      h(
        "p",
        { class: "summary" },
        `${m.pods.length} pods, ${m.proto}${m.port ? `/${m.port}` : ""}: `,
        m.divergent
          ? h(
              "strong",
              { class: "diverge-note" },
              `${m.divergent} cell(s) where Contrail and Kubernetes disagree`,
            )
          : "Contrail agrees with Kubernetes on every cell",
        ". Rows are sources, columns destinations; a cell opens its trace.",
      ),
      h(
        "p",
        { class: "legend" },
        Object.entries(MEANING).map(([k, v]) =>
          h("span", { class: `k cell-${k === "." ? "ok" : k}` }, v.text),
        ),
      ),
      body,
    );
  } catch (e) {
    body = errorBox(e);
  }
  return h("div", { class: "reach" }, form, body);
}

const traceHref = (m: MatrixView, from: string, to: string) =>
  `#/trace?${new URLSearchParams({ from, to, proto: m.proto, ...(m.port ? { port: String(m.port) } : {}) })}`;

function matrixTable(m: MatrixView): HTMLElement {
  const head = h(
    "thead",
    null,
    h(
      "tr",
      null,
      h("th", null, "from \\ to"),
      m.pods.map((p, j) =>
        h("th", { class: "col", title: `${p.name} ${p.ip}` }, h("span", null, `${j + 1} ${short(p.name)}`)),
      ),
    ),
  );
  // the body as one HTML string: ten thousand cells built node by node take several times longer to draw
  const rows = m.pods.map((src, i) => {
    const cells = [...m.rows[i]!].map((c, j) => {
      if (c === " ") return '<td class="self"></td>';
      const dst = m.pods[j]!;
      const meaning = MEANING[c]!;
      const title = esc(`${src.name} → ${dst.name}: ${meaning.text}`);
      return `<td class="${meaning.cls}" data-from="${esc(src.name)}" data-to="${esc(dst.name)}" data-verdict="${c}"><a href="${esc(traceHref(m, src.name, dst.name))}" title="${title}" aria-label="${title}">${c === "." || c === "x" ? "" : "!"}</a></td>`;
    });
    return `<tr><th class="row" title="${esc(`${src.name} ${src.ip}`)}">${i + 1} ${esc(src.name)}</th>${cells.join("")}</tr>`;
  });
  const body = h("tbody");
  body.innerHTML = rows.join("");
  return h("table", { class: "matrix" }, head, body);
}

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!,
  );

/** `ns/deployment-hash-suffix` → the name without its replica-set hash, for narrow column heads. */
function short(name: string): string {
  return name.split("/")[1]!.replace(/-[a-z0-9]{8,10}-[a-z0-9]{5}$/, "");
}

function matrixCanvas(m: MatrixView): HTMLElement {
  const n = m.pods.length;
  const cell = Math.max(1, Math.min(6, Math.floor(1200 / n)));
  const canvas = h("canvas", { width: n * cell, height: n * cell, class: "heat" }) as HTMLCanvasElement;
  const ctx = canvas.getContext("2d")!;
  for (let i = 0; i < n; i++) {
    const row = m.rows[i]!;
    for (let j = 0; j < n; j++) {
      ctx.fillStyle = COLOURS[row[j]!] ?? "#fff";
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }
  }
  const readout = h("p", { class: "readout" }, "Point at a cell.");
  const at = (ev: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    const j = Math.floor(((ev.clientX - r.left) / r.width) * n);
    const i = Math.floor(((ev.clientY - r.top) / r.height) * n);
    return i >= 0 && j >= 0 && i < n && j < n && i !== j ? { i, j } : undefined;
  };
  canvas.addEventListener("mousemove", (ev) => {
    const c = at(ev);
    readout.textContent = c
      ? `${m.pods[c.i]!.name} → ${m.pods[c.j]!.name}: ${MEANING[m.rows[c.i]![c.j]!]!.text}`
      : "Point at a cell.";
  });
  canvas.addEventListener("click", (ev) => {
    const c = at(ev);
    if (c) location.hash = traceHref(m, m.pods[c.i]!.name, m.pods[c.j]!.name);
  });
  return h("div", { class: "heatmap" }, readout, canvas);
}
