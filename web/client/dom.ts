/**
 * The client's whole component approach: `h(tag, props, ...children)` builds DOM nodes, a page is a function
 * that returns one, and a page re-renders by replacing its node. Small enough to read in a minute, nothing to
 * upgrade.
 *
 * Example: `h("a", { href: "#/config/1", class: "link" }, "cluster-network")`.
 */
export type Child = Node | string | number | null | undefined | false | Child[];

export type Props = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;

export function h(tag: string, props: Props | null = null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, "").toLowerCase(), v);
    else if (k === "class") el.className = String(v);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else
      el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

const mountHooks: (() => void)[] = [];

/** Runs `fn` once the page being built is in the document (a graph library measures its container). */
export function onMount(fn: () => void): void {
  mountHooks.push(fn);
}

/** Called by the router right after it put a page in the document. */
export function mounted(): void {
  for (const fn of mountHooks.splice(0)) fn();
}

/** Forgets the hooks of a page that was built but not shown (a newer navigation won). */
export function discardMountHooks(): void {
  mountHooks.length = 0;
}

/** JSON from the server's API; its `{ error }` answers become thrown errors with that message. */
export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path);
  const body = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))) as T & {
    error?: string;
  };
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** The hash route `#/page/rest?x=1` → its parts. */
export function route(): { page: string; rest: string; params: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", query = ""] = hash.split("?");
  const [page = "", ...rest] = path.split("/");
  return {
    page: page || "config",
    rest: rest.map(decodeURIComponent).join("/"),
    params: new URLSearchParams(query),
  };
}

export function link(href: string, text: Child, cls?: string): HTMLElement {
  return h("a", { href, ...(cls ? { class: cls } : {}) }, text);
}

/** A link to an object on the Configuration page. */
export function objLink(o: { uuid: string; type: string; name: string; fqName?: string }): HTMLElement {
  return h(
    "a",
    { href: `#/config/${o.uuid}`, class: "obj", title: o.fqName ?? o.name, "data-type": o.type },
    h("span", { class: "type" }, o.type),
    " ",
    o.name,
  );
}

export function table(head: string[], rows: Child[][], cls = "grid"): HTMLElement {
  return h(
    "table",
    { class: cls },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        head.map((c) => h("th", null, c)),
      ),
    ),
    h(
      "tbody",
      null,
      rows.map((r) =>
        h(
          "tr",
          null,
          r.map((c) => h("td", null, c)),
        ),
      ),
    ),
  );
}

export function errorBox(e: unknown): HTMLElement {
  return h("p", { class: "error", role: "alert" }, (e as Error).message);
}
