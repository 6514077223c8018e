/**
 * The destination ports one dry run answers for (the all-packets analysis, testbed/runner/reach-set.ts).
 * While a dry run decides a packet to port p, every comparison the engine makes of that port — a rule's or a
 * firewall service's range, a floating IP's port mapping, a link-local service, a forwarding pod's drop rule,
 * a listening socket — narrows a window around p to the ports for which that comparison comes out the same.
 * Every port of the final window takes the very same path through the engine, so it meets the same fate: one
 * dry run decides the whole window (symbolic execution over one variable), and a pair that is denied before
 * any port is looked at is decided for all 65,536 ports at once.
 *
 * A port the network rewrote (a port mapping's member port, a link-local service's fabric port) is a constant,
 * not p: comparisons of it narrow nothing (`symbolic` false). Not covered, by design: the ECMP flow hash — a
 * different port may hash to another member, as a different source port does; the analysis samples source
 * ports where an ECMP choice is on the way and reports what depends on the member.
 *
 * The window is the engine's ambient recorder for the duration of one synchronous dry run (`withPortWindow`),
 * so the stages compare through it without a parameter threaded through every call.
 *
 * Example: `const w = new PortWindow(80); withPortWindow(w, () => net.reachOutcome(a, ip, "tcp", 80))`
 *          → w.lo..w.hi, e.g. 80..80 when a rule allows port 80 only, 0..65535 when nothing looked at it.
 */
export class PortWindow {
  lo = 0;
  hi = 65535;
  /** The packet's destination port is still the one asked about (no NAT has rewritten it). */
  symbolic = true;

  constructor(readonly port: number) {}

  /** `value` in [start, end], narrowing the window to the ports that answer the same. */
  inRange(value: number, start: number, end: number): boolean {
    const inside = value >= start && value <= end;
    if (!this.symbolic) return inside;
    if (inside) {
      if (start > this.lo) this.lo = start;
      if (end < this.hi) this.hi = end;
    } else if (value < start) {
      if (start - 1 < this.hi) this.hi = start - 1;
    } else if (end + 1 > this.lo) this.lo = end + 1;
    return inside;
  }

  equals(value: number, x: number): boolean {
    return this.inRange(value, x, x);
  }

  /** `value` among `ports` (a socket's listening ports), narrowing as each comparison does. */
  member(value: number, ports: readonly number[]): boolean {
    let inside = false;
    for (const x of ports) if (this.equals(value, x)) inside = true;
    return inside;
  }
}

let active: PortWindow | undefined;

/** The window of the dry run under way, if one is recorded. */
export function portWindow(): PortWindow | undefined {
  return active;
}

/** Runs `fn` (a synchronous dry run) with `w` recording its port comparisons. */
export function withPortWindow<T>(w: PortWindow | undefined, fn: () => T): T {
  const outer = active;
  active = w;
  try {
    return fn();
  } finally {
    active = outer;
  }
}
