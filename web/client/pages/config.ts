/**
 * Configuration: the config API's objects by type and project, one object's fields, refs, back-refs and
 * children as links, the Kubernetes object it stands for; search by name, uuid or address.
 */
import { type Child, errorBox, getJson, h, objLink, table } from "../dom";

interface ObjLink {
  type: string;
  uuid: string;
  fqName: string;
  name: string;
}
interface Listed extends ObjLink {
  project?: string;
  kube?: KubeOwner;
}
interface KubeOwner {
  kind: string;
  namespace?: string;
  name: string;
}
interface RefLink extends ObjLink {
  field: string;
  attr?: unknown;
}
interface Detail extends ObjLink {
  project?: string;
  parent?: ObjLink;
  fields: Record<string, unknown>;
  refs: RefLink[];
  backRefs: RefLink[];
  children: ObjLink[];
  kube?: KubeOwner;
}

const kubeText = (k: KubeOwner) => `${k.kind} ${k.namespace ? `${k.namespace}/` : ""}${k.name}`;

export async function configPage(rest: string, params: URLSearchParams): Promise<HTMLElement> {
  const { types, projects } = await getJson<{ types: { type: string; count: number }[]; projects: string[] }>(
    "/api/config/types",
  );
  const type = params.get("type") ?? "";
  const project = params.get("project") ?? "";
  const query = params.get("q") ?? "";
  const go = (p: Record<string, string>) => {
    const s = new URLSearchParams({ ...(type ? { type } : {}), ...(project ? { project } : {}), ...p });
    for (const [k, v] of [...s]) if (!v) s.delete(k);
    location.hash = `#/config?${s}`;
  };
  const search = h("input", {
    type: "search",
    name: "q",
    placeholder: "name, uuid or address",
    value: query,
    "aria-label": "search objects",
  }) as HTMLInputElement;
  const side = h(
    "aside",
    { class: "types" },
    h(
      "form",
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          location.hash = `#/config?q=${encodeURIComponent(search.value)}`;
        },
      },
      search,
    ),
    h(
      "label",
      null,
      "project ",
      h(
        "select",
        { onchange: (ev: Event) => go({ project: (ev.target as HTMLSelectElement).value }) },
        h("option", { value: "" }, "(all)"),
        projects.map((p) => h("option", { value: p, ...(p === project ? { selected: true } : {}) }, p)),
      ),
    ),
    h(
      "ul",
      null,
      types.map((t) =>
        h(
          "li",
          t.type === type ? { class: "current" } : null,
          h(
            "a",
            { href: `#/config?type=${t.type}${project ? `&project=${project}` : ""}` },
            t.type,
            " ",
            h("span", { class: "count" }, t.count),
          ),
        ),
      ),
    ),
  );
  let body: Child;
  try {
    if (rest) body = detailView(await getJson<Detail>(`/api/config/object/${encodeURIComponent(rest)}`));
    else if (query) {
      const found = await getJson<ObjLink[]>(`/api/config/search?q=${encodeURIComponent(query)}`);
      body = h(
        "section",
        null,
        h("h2", null, `Search: ${query}`),
        found.length
          ? table(
              ["object", "fq_name"],
              found.map((f) => [objLink(f), f.fqName]),
            )
          : h("p", null, "Nothing matches."),
      );
    } else if (!type && !project) {
      // every object of a large cluster is thousands of rows: the types first, as the Contrail GUI's menu
      body = h(
        "section",
        null,
        h("h2", null, `Configuration (${types.reduce((n, t) => n + t.count, 0)} objects)`),
        table(
          ["type", "objects"],
          types.map((t) => [h("a", { href: `#/config?type=${t.type}` }, t.type), t.count]),
        ),
      );
    } else {
      const list = await getJson<Listed[]>(
        `/api/config/objects?${new URLSearchParams({ ...(type ? { type } : {}), ...(project ? { project } : {}) })}`,
      );
      body = h(
        "section",
        null,
        h("h2", null, type || "All objects", project ? ` in ${project}` : "", ` (${list.length})`),
        table(
          ["object", "project", "fq_name", "Kubernetes"],
          list.map((o) => [objLink(o), o.project ?? "", o.fqName, o.kube ? kubeText(o.kube) : ""]),
        ),
      );
    }
  } catch (e) {
    body = errorBox(e);
  }
  return h("div", { class: "config" }, side, h("div", { class: "content" }, body));
}

function refRows(refs: RefLink[]): Child[][] {
  return refs.map((r) => [
    r.field,
    objLink(r),
    r.attr === undefined ? "" : h("code", null, JSON.stringify(r.attr)),
  ]);
}

function detailView(d: Detail): HTMLElement {
  return h(
    "section",
    { class: "detail", "data-uuid": d.uuid },
    h("h2", null, h("span", { class: "type" }, d.type), " ", d.name),
    h(
      "dl",
      null,
      h("dt", null, "fq_name"),
      h("dd", null, d.fqName),
      h("dt", null, "uuid"),
      h("dd", null, d.uuid),
      d.project ? [h("dt", null, "project"), h("dd", null, d.project)] : null,
      d.parent ? [h("dt", null, "parent"), h("dd", null, objLink(d.parent))] : null,
      h("dt", null, "Kubernetes"),
      h("dd", { class: "kube" }, d.kube ? kubeText(d.kube) : "(none: not made for a Kubernetes object)"),
    ),
    h("h3", null, `Refs (${d.refs.length})`),
    d.refs.length ? table(["field", "to", "attr"], refRows(d.refs), "grid refs") : h("p", null, "none"),
    h("h3", null, `Back-refs (${d.backRefs.length})`),
    d.backRefs.length
      ? table(["field", "from", "attr"], refRows(d.backRefs), "grid back-refs")
      : h("p", null, "none"),
    h("h3", null, `Children (${d.children.length})`),
    d.children.length
      ? table(
          ["object", "fq_name"],
          d.children.map((c) => [objLink(c), c.fqName]),
          "grid children",
        )
      : h("p", null, "none"),
    h("h3", null, "Fields"),
    h("pre", { class: "fields" }, JSON.stringify(d.fields, null, 2)),
  );
}
