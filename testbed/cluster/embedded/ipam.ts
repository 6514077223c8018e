/**
 * Allocators of the service registry: ClusterIPs from the service CIDR and NodePorts from 30000-32767.
 * Like the real allocators, a lower static band is left for addresses users pick themselves (the dynamic
 * allocator starts above it), so a manifest that pins kube-dns to 10.96.0.10 never collides with an
 * address handed out earlier. Dynamic picks are sequential, not random, so runs are reproducible.
 *
 * Example: const a = new ClusterIPAllocator("10.96.0.0/12"); a.allocate() === "10.96.1.0"
 */
import { isIPv4 } from "./validation";

export class AllocationError extends Error {
  constructor(
    readonly reason: "range" | "allocated" | "full",
    message: string,
  ) {
    super(message);
  }
}

function ipToNum(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

function numToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Size of the ClusterIP static band: size/16, clamped to [16, 256] (KEP-3070). */
function staticBand(size: number): number {
  return Math.min(Math.max(16, Math.floor(size / 16)), 256);
}

export function parseIPv4Cidr(cidr: string): { base: number; size: number } {
  const [ip, bits] = cidr.split("/");
  const b = Number(bits);
  if (!isIPv4(ip) || !/^\d+$/.test(bits ?? "") || b > 30)
    throw new Error(`invalid IPv4 service CIDR "${cidr}"`);
  const size = 2 ** (32 - b);
  return { base: Math.floor(ipToNum(ip) / size) * size, size };
}

/** Offsets [first, last] with a cursor for the next dynamic pick; used for both IPs and ports. */
class RangeAllocator {
  private readonly used = new Set<number>();
  private cursor: number;

  constructor(
    private readonly first: number,
    private readonly last: number,
    dynamicStart: number,
  ) {
    this.cursor = dynamicStart;
  }

  has(v: number): boolean {
    return this.used.has(v);
  }

  inRange(v: number): boolean {
    return v >= this.first && v <= this.last;
  }

  reserve(v: number): void {
    this.used.add(v);
  }

  release(v: number): void {
    this.used.delete(v);
  }

  next(): number | undefined {
    const span = this.last - this.first + 1;
    for (let i = 0; i < span; i++) {
      const v = this.first + ((this.cursor - this.first + i) % span);
      if (!this.used.has(v)) {
        this.used.add(v);
        this.cursor = v + 1 > this.last ? this.first : v + 1;
        return v;
      }
    }
    return undefined;
  }
}

export class ClusterIPAllocator {
  private readonly range: RangeAllocator;
  readonly firstAddress: string;

  constructor(readonly cidr: string) {
    const { base, size } = parseIPv4Cidr(cidr);
    // network and broadcast addresses are never handed out
    this.range = new RangeAllocator(base + 1, base + size - 2, base + staticBand(size));
    this.firstAddress = numToIp(base + 1);
  }

  /** Reserve a user-chosen address, with the real API server's complaint if it cannot be had. */
  reserve(ip: string): void {
    const n = ipToNum(ip);
    if (!isIPv4(ip) || !this.range.inRange(n)) {
      throw new AllocationError(
        "range",
        `provided IP is not in the valid range. The range of valid IPs is ${this.cidr}`,
      );
    }
    if (this.range.has(n)) throw new AllocationError("allocated", "provided IP is already allocated");
    this.range.reserve(n);
  }

  allocate(): string {
    const n = this.range.next();
    if (n === undefined) throw new AllocationError("full", `range is full`);
    return numToIp(n);
  }

  release(ip: string): void {
    if (isIPv4(ip)) this.range.release(ipToNum(ip));
  }
}

export class NodePortAllocator {
  private readonly range: RangeAllocator;

  constructor(
    readonly first = 30000,
    readonly last = 32767,
  ) {
    // KEP-3668: the NodePort static band is size/32, clamped to [16, 128]
    const size = last - first + 1;
    this.range = new RangeAllocator(first, last, first + Math.min(Math.max(16, Math.floor(size / 32)), 128));
  }

  reserve(port: number): void {
    if (!this.range.inRange(port)) {
      throw new AllocationError(
        "range",
        `provided port is not in the valid range. The range of valid ports is ${this.first}-${this.last}`,
      );
    }
    if (this.range.has(port)) throw new AllocationError("allocated", "provided port is already allocated");
    this.range.reserve(port);
  }

  allocate(): number {
    const p = this.range.next();
    if (p === undefined) throw new AllocationError("full", "range is full");
    return p;
  }

  release(port: number): void {
    this.range.release(port);
  }
}
