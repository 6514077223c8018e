/**
 * Topology: computes holding their pods, virtual networks, Services with their members, network policies
 * between networks, drawn with cytoscape.js. Selecting a node shows its details; its link opens the Contrail
 * object on the Configuration page.
 */
import cytoscape from "cytoscape";
import { getJson, h, onMount } from "../dom";

interface TopoNode {
  id: string;
  kind: string;
  label: string;
  parent?: string;
  uuid?: string;
  details: string[];
  isolated?: boolean;
}
interface TopoEdge {
  id: string;
  source: string;
  target: string;
  kind: string;
  label?: string;
}

/** Past this many nodes the force-directed layout would keep the page busy for seconds. */
const LAYOUT_LIMIT = 300;

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: "node",
    style: {
      label: "data(label)",
      "text-wrap": "wrap",
      "font-size": 10,
      "text-valign": "bottom",
      "text-margin-y": 3,
      width: 22,
      height: 22,
    },
  },
  {
    selector: 'node[kind = "compute"]',
    style: {
      shape: "round-rectangle",
      "background-color": "#eef3f8",
      "border-color": "#6b8bb0",
      "border-width": 1,
      "text-valign": "top",
      "font-weight": "bold",
    },
  },
  { selector: 'node[kind = "pod"]', style: { "background-color": "#4c9a6a" } },
  {
    selector: 'node[kind = "network"]',
    style: { shape: "hexagon", "background-color": "#3867a8", width: 34, height: 30 },
  },
  { selector: "node[?isolated]", style: { "border-width": 3, "border-color": "#c0392b" } },
  { selector: 'node[kind = "service"]', style: { shape: "diamond", "background-color": "#d0892a" } },
  { selector: 'node[kind = "policy"]', style: { shape: "tag", "background-color": "#8e44ad" } },
  {
    selector: "edge",
    style: {
      width: 1.5,
      "curve-style": "bezier",
      "line-color": "#9aa7b4",
      label: "data(label)",
      "font-size": 8,
      "text-rotation": "autorotate",
    },
  },
  {
    selector: 'edge[kind = "member"]',
    style: {
      "line-style": "dashed",
      "line-color": "#d0892a",
      "target-arrow-shape": "triangle",
      "target-arrow-color": "#d0892a",
    },
  },
  { selector: 'edge[kind = "policy"]', style: { "line-color": "#8e44ad", "line-style": "dotted" } },
  { selector: ":selected", style: { "overlay-color": "#f1c40f", "overlay-opacity": 0.3 } },
];

export async function topologyPage(): Promise<HTMLElement> {
  const topo = await getJson<{ nodes: TopoNode[]; edges: TopoEdge[] }>("/api/topology");
  const graph = h("div", { class: "graph", id: "cy" });
  const info = h("aside", { class: "info" }, h("p", null, "Select a node to see what it is."));
  // the same facts as a list, for reading and searching the page (and for a screen reader)
  const legend = h(
    "details",
    { class: "elements" },
    h("summary", null, `${topo.nodes.length} nodes, ${topo.edges.length} edges`),
    h(
      "ul",
      null,
      topo.nodes.map((n) =>
        h(
          "li",
          { "data-kind": n.kind, ...(n.isolated ? { "data-isolated": "true" } : {}) },
          `${n.kind}: ${n.label.replace("\n", " ")}`,
        ),
      ),
    ),
  );
  const page = h(
    "div",
    { class: "topology" },
    h(
      "p",
      { class: "legend" },
      h("span", { class: "k compute" }, "compute"),
      h("span", { class: "k pod" }, "pod"),
      h("span", { class: "k network" }, "virtual network"),
      h("span", { class: "k isolated" }, "isolated namespace's network"),
      h("span", { class: "k service" }, "Service"),
      h("span", { class: "k policy" }, "network policy"),
    ),
    h("div", { class: "split" }, graph, info),
    legend,
  );
  // cytoscape needs its container in the document to measure it
  onMount(() => {
    const cy = cytoscape({
      container: graph,
      elements: [
        ...topo.nodes.map((n) => ({ group: "nodes" as const, data: { ...n } })),
        ...topo.edges.map((e) => ({ group: "edges" as const, data: { ...e } })),
      ],
      style: STYLE,
      // a force-directed layout reads best, but costs quadratic time: a large cluster is laid out on a grid
      layout:
        topo.nodes.length <= LAYOUT_LIMIT
          ? { name: "cose", animate: false, nodeDimensionsIncludeLabels: true, randomize: false }
          : { name: "grid", avoidOverlap: true, nodeDimensionsIncludeLabels: true },
    });
    cy.on("tap", "node", (ev) => {
      const n = ev.target.data() as TopoNode;
      info.replaceChildren(
        h(
          "div",
          null,
          h("h3", null, n.label.replace("\n", " ")),
          h(
            "ul",
            null,
            n.details.map((d) => h("li", null, d)),
          ),
          n.uuid ? h("a", { href: `#/config/${n.uuid}` }, "open the Contrail object") : null,
        ),
      );
    });
    (window as unknown as { cy?: cytoscape.Core }).cy = cy;
  });
  return page;
}
