/**
 * Generated names and identities the way Kubernetes makes them: uids (uuid v4), 5-character generateName
 * suffixes and the pod-template-hash of Deployments, all from one seedable random source so a run can be
 * reproduced name for name.
 *
 * Example: new IdSource(42).suffix() === new IdSource(42).suffix()  (a seed makes the sequence repeatable)
 */
import { randomBytes } from "node:crypto";

/** The alphabet of Kubernetes' random strings: no vowels, no 0/1/3 (avoids words and look-alikes). */
const ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789";
/** generateName bases are cut so base + suffix stays within 63 characters. */
const MAX_GENERATED_BASE = 58;

/** mulberry32: small, fast, good enough for names; the seed makes reproducible runs. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class IdSource {
  private readonly next: (() => number) | undefined;

  constructor(seed?: number) {
    this.next = seed === undefined ? undefined : seeded(seed);
  }

  private bytes(n: number): Uint8Array {
    if (!this.next) return randomBytes(n);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }

  uid(): string {
    const b = this.bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Buffer.from(b).toString("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** 5 random characters as appended to generateName. */
  suffix(): string {
    return Array.from(this.bytes(5), (x) => ALPHANUMS[x % ALPHANUMS.length]).join("");
  }

  generateName(base: string): string {
    return base.slice(0, MAX_GENERATED_BASE) + this.suffix();
  }
}

/** JSON with sorted keys, so equal templates hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * pod-template-hash: FNV-32a of the pod template (and the collision count), its decimal digits mapped onto
 * the safe alphabet, like the deployment controller's ComputeHash + SafeEncodeString ("5d4c6b8f79").
 */
export function podTemplateHash(template: unknown, collisionCount?: number): string {
  const decimal = String(fnv32a(canonicalJson(template) + (collisionCount ? `#${collisionCount}` : "")));
  return Array.from(decimal, (c) => ALPHANUMS[c.charCodeAt(0) % ALPHANUMS.length]).join("");
}
