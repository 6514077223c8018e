/**
 * Throwaway PKI for the local control plane: a CA, the serving certificate every component presents on
 * 127.0.0.1, one client certificate per identity (admin in system:masters, the controller-manager and the
 * scheduler under their built-in RBAC user names) and the service-account signing key pair.
 * Keys come from node:crypto (P-256); certificates are signed by the `openssl` CLI, since Node cannot issue X.509.
 *
 * Example:
 *   const pki = await generatePki("/tmp/ws/.ctb/pki", { serviceIP: "10.96.0.1" });
 *   pki.clients.admin.cert  // PEM path, subject O=system:masters, CN=ctb-admin
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface CertPair {
  cert: string; // PEM file path
  key: string; // PEM file path
}

/** Client identities the control plane uses; the user names match the built-in RBAC bindings. */
export const CLIENT_IDENTITIES = {
  admin: { cn: "ctb-admin", org: "system:masters" },
  "kube-controller-manager": { cn: "system:kube-controller-manager" },
  "kube-scheduler": { cn: "system:kube-scheduler" },
} as const satisfies Record<string, { cn: string; org?: string }>;

export type ClientName = keyof typeof CLIENT_IDENTITIES;

export interface Pki {
  ca: CertPair;
  /** Presented by kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1. */
  serving: CertPair;
  clients: Record<ClientName, CertPair>;
  serviceAccount: { publicKey: string; privateKey: string };
}

/** openssl is missing or refused a request: names the command so the user knows what to install. */
export class PkiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PkiError";
  }
}

/** Creates a fresh PKI under `dir` (anything there before is replaced). */
export async function generatePki(dir: string, opts: { serviceIP: string }): Promise<Pki> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca: CertPair = { cert: join(dir, "ca.crt"), key: await writeKey(dir, "ca") };
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    ca.key,
    "-subj",
    "/CN=ctb-local-ca",
    "-days",
    "3650",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    "-out",
    ca.cert,
  ]);

  // The in-cluster names are there so a pod that talks to kubernetes.default would verify the certificate too.
  const serving = await issue(dir, ca, "serving", "/CN=kube-apiserver", [
    "extendedKeyUsage=serverAuth",
    `subjectAltName=IP:127.0.0.1,DNS:localhost,IP:${opts.serviceIP},DNS:kubernetes,DNS:kubernetes.default,` +
      "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
  ]);
  const clients = {} as Record<ClientName, CertPair>;
  for (const [name, id] of Object.entries(CLIENT_IDENTITIES) as [
    ClientName,
    { cn: string; org?: string },
  ][]) {
    const subject = (id.org ? `/O=${id.org}` : "") + `/CN=${id.cn}`;
    clients[name] = await issue(dir, ca, name, subject, ["extendedKeyUsage=clientAuth"]);
  }

  const sa = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const serviceAccount = { publicKey: join(dir, "sa.pub"), privateKey: join(dir, "sa.key") };
  await writeFile(serviceAccount.publicKey, sa.publicKey);
  await writeFile(serviceAccount.privateKey, sa.privateKey, { mode: 0o600 });
  return { ca, serving, clients, serviceAccount };
}

/** Reads a PEM file as base64, the form kubeconfig's *-data fields take. */
export async function pemData(path: string): Promise<string> {
  return (await readFile(path)).toString("base64");
}

async function writeKey(dir: string, name: string): Promise<string> {
  const { privateKey } = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const path = join(dir, `${name}.key`);
  await writeFile(path, privateKey, { mode: 0o600 });
  return path;
}

/** Issues a certificate signed by `ca` (key and cert `<dir>/<name>.{key,crt}`), e.g. a kubelet's. */
export async function issue(
  dir: string,
  ca: CertPair,
  name: string,
  subject: string,
  ext: string[],
): Promise<CertPair> {
  const key = await writeKey(dir, name);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  const cert = join(dir, `${name}.crt`);
  await writeFile(
    extFile,
    ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", ...ext].join(
      "\n",
    ) + "\n",
  );
  await openssl(["req", "-new", "-key", key, "-subj", subject, "-out", csr]);
  // A positive random serial: Go rejects negative ones.
  const serial = `0x${(randomBytes(16)[0] & 0x7f).toString(16).padStart(2, "0")}${randomBytes(15).toString("hex")}`;
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-set_serial",
    serial,
    "-days",
    "365",
    "-extfile",
    extFile,
    "-out",
    cert,
  ]);
  await rm(csr);
  await rm(extFile);
  return { cert, key };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new PkiError("openssl is not installed (apt-get install openssl)");
    throw new PkiError(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}
