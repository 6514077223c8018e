/**
 * Reading docker-save tarballs the way a runtime does: manifest.json, the image config, each layer's entries.
 *
 * Example: `const img = readImage("/tmp/out/pause.tar"); img.config.config.Entrypoint` → `["/pause"]`.
 */
import { execFileSync } from "node:child_process";

export interface SavedImage {
  repoTags: string[];
  config: {
    architecture: string;
    os: string;
    config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string };
    rootfs: { type: string; diff_ids: string[] };
  };
  layers: string[];
}

export function readImage(tarball: string): SavedImage {
  const manifest = JSON.parse(execFileSync("tar", ["-xOf", tarball, "manifest.json"], { encoding: "utf8" }));
  if (manifest.length !== 1) throw new Error(`${tarball}: ${manifest.length} images, expected 1`);
  const m = manifest[0];
  const config = JSON.parse(execFileSync("tar", ["-xOf", tarball, m.Config], { encoding: "utf8" }));
  return { repoTags: m.RepoTags, config, layers: m.Layers };
}

/** `tar tv`-style lines of one layer (mode, owner, size, time, path [-> target]). */
export function layerListing(tarball: string, layer: string): string[] {
  const gz = execFileSync("tar", ["-xOf", tarball, layer], { maxBuffer: 1 << 30 });
  const out = execFileSync("tar", ["-tzv", "--numeric-owner", "--full-time", "-f", "-"], {
    input: gz,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  return out.trim().split("\n");
}

/** One file of one layer, extracted (bytes). */
export function layerFile(tarball: string, layer: string, path: string): Buffer {
  const gz = execFileSync("tar", ["-xOf", tarball, layer], { maxBuffer: 1 << 30 });
  return execFileSync("tar", ["-xzOf", "-", path], { input: gz, maxBuffer: 1 << 28 });
}
