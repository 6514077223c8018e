/**
 * The agent's resolver for link-local services given by DNS name (`ip_fabric_DNS_service_name`), as the real
 * agent's `GlobalVrouter::FabricDnsResolver` (tf-controller src/vnsw/agent/oper/global_vrouter.cc): the names
 * in the current link-local config are resolved asynchronously to IPv4 addresses (re-resolved every 15
 * minutes), names no longer configured are forgotten, and until a name resolves its service has no fabric
 * address. Node's resolver (`dns.lookup`: /etc/hosts, then DNS) stands in for boost's.
 *
 * Example:
 *   const dns = new FabricDnsResolver({ onChange: () => recompute(), warn: console.warn });
 *   dns.resolveList(["localhost"]); await dns.settled(); dns.addresses("localhost") // ["127.0.0.1"]
 */
import { lookup } from "node:dns/promises";

/** global_vrouter.cc kDnsTimeout: every name is looked up again after this long. */
const REFRESH_MS = 15 * 60 * 1000;

export interface FabricDnsOptions {
  /** Called after a lookup changed a name's addresses (the agent recomputes its tables). */
  onChange: () => void;
  /** A name that does not resolve: said once per name until it resolves again. */
  warn?: (msg: string) => void;
  /** Stand-in for `dns.lookup` (tests). */
  lookup?: (name: string) => Promise<string[]>;
}

const lookupV4 = async (name: string) => (await lookup(name, { family: 4, all: true })).map((a) => a.address);

export class FabricDnsResolver {
  private readonly map = new Map<string, string[]>();
  private readonly pending = new Set<Promise<void>>();
  private readonly failing = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly opts: FabricDnsOptions) {
    this.timer = setInterval(() => {
      for (const name of this.map.keys()) this.resolveName(name);
    }, REFRESH_MS);
    this.timer.unref();
  }

  /** The names the link-local config holds now: new ones are looked up, known ones keep their addresses. */
  resolveList(names: Iterable<string>): void {
    const wanted = new Set(names);
    for (const name of this.map.keys()) if (!wanted.has(name)) this.map.delete(name);
    for (const name of wanted)
      if (!this.map.has(name)) {
        this.map.set(name, []);
        this.resolveName(name);
      }
  }

  /** IPv4 addresses the name resolved to; empty until (and unless) it resolves. */
  addresses(name: string): string[] {
    return this.map.get(name) ?? [];
  }

  /** Resolves when no lookup is in flight (their changes already reported). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private resolveName(name: string): void {
    const p = (this.opts.lookup ?? lookupV4)(name).then(
      (addrs) => this.answer(name, addrs, undefined),
      (err: NodeJS.ErrnoException) => this.answer(name, [], err.code ?? err.message),
    );
    const done = p.finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  private answer(name: string, addrs: string[], error: string | undefined): void {
    // a name dropped from the config meanwhile is not brought back (ResolveHandler ignores unknown names)
    if (this.stopped || !this.map.has(name)) return;
    if (error !== undefined || addrs.length === 0) {
      if (!this.failing.has(name))
        this.opts.warn?.(
          `link-local service: ip_fabric_DNS_service_name "${name}" does not resolve (${error ?? "no IPv4 address"}); ` +
            "its link-local services have no fabric address until it does",
        );
      this.failing.add(name);
    } else this.failing.delete(name);
    const before = this.map.get(name)!;
    if (before.join(",") === addrs.join(",")) return;
    this.map.set(name, addrs);
    this.opts.onChange();
  }
}
