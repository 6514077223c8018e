/**
 * The images real kubelet nodes run, built by build.sh beside this file (no Docker, no registry: docker-save
 * tarballs that `ctr -n k8s.io images import` loads). One source for their references: IMAGES.
 *
 * Example:
 *   const { images } = await ensureImages();             // builds what changed, reuses the rest
 *   // ctr -n k8s.io images import images.pause.tarball  (sandbox_image = images.pause.ref)
 */
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const IMAGES_BUILD_SCRIPT = "testbed/cluster/kubelet/images/build.sh";

/** The image names build.sh knows, and the reference each is tagged with. */
export const IMAGES = {
  /** The pod sandbox: containerd's `sandbox_image`. */
  pause: "ctb.local/pause:v1",
  /** Scenario pods' workload: `ctb-echo tcp:80 udp:5353 …` (its args: the pod's container ports). */
  echo: "ctb.local/echo:v1",
  /** deploy/'s image (ctb controller | api | vrouter), built from this tree. */
  testbed: "contrail-k8s-testbed:dev",
} as const;
export type ImageName = keyof typeof IMAGES;

export interface BuiltImage {
  ref: string;
  /** The docker-save tarball. */
  tarball: string;
}

export class ImageBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageBuildError";
  }
}

/**
 * Builds (or reuses) the images named (default: all) and says where each tarball is. `out` overrides the
 * output directory (default ${CTB_IMAGES_OUT:-${CTB_CACHE:-~/.cache/ctb}/images}).
 */
export function ensureImages(
  opts: { names?: ImageName[]; out?: string; timeoutMs?: number } = {},
): Promise<{ images: Partial<Record<ImageName, BuiltImage>> }> {
  const names = opts.names ?? (Object.keys(IMAGES) as ImageName[]);
  const env = { ...process.env, ...(opts.out ? { CTB_IMAGES_OUT: opts.out } : {}) };
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [join(HERE, "build.sh"), ...names],
      { env, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const why = stderr.trim().split("\n").slice(-5).join("\n") || err.message;
          reject(
            new ImageBuildError(
              `building images (${names.join(", ")}) with ${IMAGES_BUILD_SCRIPT} failed:\n${why}`,
            ),
          );
          return;
        }
        const images: Partial<Record<ImageName, BuiltImage>> = {};
        const lines = stdout.trim().split("\n");
        for (const [i, n] of names.entries()) {
          const [ref, tarball] = (lines[i] ?? "").split("\t");
          if (ref !== IMAGES[n] || !tarball) {
            reject(
              new ImageBuildError(
                `${IMAGES_BUILD_SCRIPT} printed "${lines[i]}" for ${n}, expected ${IMAGES[n]}`,
              ),
            );
            return;
          }
          images[n] = { ref, tarball };
        }
        resolve({ images });
      },
    );
  });
}
