/** Kubernetes' own Ingress routing (the reference the HTTP report compares haproxy's decision with). */
import { describe, expect, it } from "vitest";
import { kubernetesIngressBackend } from "../../testbed/oracle/ingress";

const be = (name: string, number: number) => ({ service: { name, port: { number } } });
const spec = {
  rules: [
    {
      host: "shop.example",
      http: {
        paths: [
          { path: "/cart", pathType: "Prefix", backend: be("cart", 80) },
          { path: "/cart/checkout", pathType: "Exact", backend: be("checkout", 80) },
        ],
      },
    },
    { host: "*.example", http: { paths: [{ path: "/", pathType: "Prefix", backend: be("wild", 80) }] } },
    { http: { paths: [{ path: "/status", pathType: "Exact", backend: be("status", 8080) }] } },
  ],
  defaultBackend: be("fallback", 80),
};
const route = (host: string | undefined, path: string) => {
  const r = kubernetesIngressBackend(spec, host, path);
  return r && `${r.service}:${r.port}`;
};

describe("Kubernetes Ingress routing", () => {
  it("Prefix matches by path element, the longest path wins, Exact is exact", () => {
    expect(route("shop.example", "/cart")).toBe("cart:80");
    expect(route("shop.example", "/cart/items")).toBe("cart:80");
    expect(route("shop.example", "/cart/")).toBe("cart:80");
    // not an element prefix, and the exact host's rules are the ones in play (no falling through to *.example)
    expect(route("shop.example", "/cartoon")).toBe("fallback:80");
    expect(route("shop.example", "/cart/checkout")).toBe("checkout:80");
  });

  it("hosts: case-insensitive, port ignored, a wildcard covers one label, hostless rules after", () => {
    expect(route("SHOP.example:80", "/cart")).toBe("cart:80");
    expect(route("a.example", "/x")).toBe("wild:80");
    expect(route("a.b.example", "/status")).toBe("status:8080");
    expect(route(undefined, "/nothing")).toBe("fallback:80");
  });
});
