/**
 * What a client of the config API needs from a URL that may carry the admin port's credentials
 * (`http://admin:pw@127.0.0.1:8095`, as the testbed hands its own components): the bare base URL, which
 * fetch() accepts, and the Basic `Authorization` header those credentials stand for.
 *
 * Example: `const { base, headers } = vncEndpoint(tb.vncUrl); await fetch(`${base}/projects`, { headers })`.
 */
export function vncEndpoint(url: string): { base: string; headers: Record<string, string> } {
  const u = new URL(url);
  if (!u.username) return { base: url.replace(/\/+$/, ""), headers: {} };
  const creds = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = "";
  u.password = "";
  return {
    base: u.toString().replace(/\/+$/, ""),
    headers: { authorization: `Basic ${Buffer.from(creds).toString("base64")}` },
  };
}
