/**
 * The image builder (testbed/cluster/kubelet/images): valid docker-save tarballs with the references, entry
 * points and files the kubelet backend and deploy/ expect; deterministic; rebuilt only when inputs change;
 * clear errors for a bad spec.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureImages, IMAGES } from "../../testbed/cluster/kubelet/images";
import { layerFile, layerListing, readImage } from "./support";

const tool = join(process.env.CTB_CACHE ?? join(homedir(), ".cache/ctb"), "image-tools", "ctb-image");
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "ctb-images-"));
  dirs.push(d);
  return d;
};
const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");

let out: string;
let built: Awaited<ReturnType<typeof ensureImages>>["images"];

beforeAll(async () => {
  out = tmp();
  built = (await ensureImages({ names: ["pause", "echo", "testbed"], out })).images;
}, 600_000);
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("image builder", () => {
  it("writes the sandbox and echo images as valid docker-save tarballs", () => {
    for (const name of ["pause", "echo"] as const) {
      const img = built[name]!;
      expect(img.ref).toBe(IMAGES[name]);
      // go-containerregistry's validation: manifest, config, layer digests and diff ids agree
      const check = execFileSync(tool, ["check", img.tarball], { encoding: "utf8" });
      expect(check).toMatch(new RegExp(`^${IMAGES[name]} sha256:[0-9a-f]{64} 1 layers ok`));
      const saved = readImage(img.tarball);
      expect(saved.repoTags).toEqual([IMAGES[name]]);
      expect(saved.config.os).toBe("linux");
      expect(saved.config.architecture).toBe("amd64");
      expect(saved.config.rootfs.diff_ids).toHaveLength(1);
    }
    expect(readImage(built.pause!.tarball).config.config.Entrypoint).toEqual(["/pause"]);
    expect(readImage(built.echo!.tarball).config.config.Entrypoint).toEqual(["/ctb-echo"]);
  });

  it("holds one static executable per small image, owned by root, with fixed times", () => {
    const img = readImage(built.pause!.tarball);
    const [line] = layerListing(built.pause!.tarball, img.layers[0]!);
    expect(line).toMatch(/^-rwxr-xr-x 0\/0 +\d+ 1970-01-01 00:00:00 pause$/);
    const elf = layerFile(built.pause!.tarball, img.layers[0]!, "pause");
    expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    // static: no program interpreter (PT_INTERP) means no dynamic loader is needed inside the image
    expect(elf.includes(Buffer.from("ld-linux"))).toBe(false);
  });

  it("gives the same bytes for the same inputs and does not rewrite an unchanged image", async () => {
    const before = statSync(built.pause!.tarball).mtimeMs;
    const again = (await ensureImages({ names: ["pause"], out })).images.pause!;
    expect(statSync(again.tarball).mtimeMs).toBe(before);
    const other = (await ensureImages({ names: ["pause"], out: tmp() })).images.pause!;
    expect(sha(other.tarball)).toBe(sha(built.pause!.tarball));
  }, 120_000);

  it("rebuilds when an input file changes", () => {
    const d = tmp();
    writeFileSync(join(d, "hello"), "one\n");
    writeFileSync(join(d, "x.spec"), `ref\tctb.local/x:v1\nentrypoint\t/hello\nfile\t${d}/hello\thello\n`);
    const id = () =>
      execFileSync(tool, ["build", "-spec", join(d, "x.spec"), "-out", join(d, "x.tar")], {
        encoding: "utf8",
      }).split(" ")[1];
    const first = id();
    expect(id()).toBe(first);
    writeFileSync(join(d, "hello"), "two\n");
    const second = id();
    expect(second).not.toBe(first);
    expect(layerFile(join(d, "x.tar"), readImage(join(d, "x.tar")).layers[0]!, "hello").toString()).toBe(
      "two\n",
    );
  });

  it("names the spec line of a bad directive or a missing file", () => {
    const d = tmp();
    writeFileSync(join(d, "bad.spec"), "ref\tctb.local/x:v1\n\nfile\t/nonexistent/ctb\tx\n");
    let r = spawnSync(tool, ["build", "-spec", join(d, "bad.spec"), "-out", join(d, "x.tar")], {
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${join(d, "bad.spec")}:3: stat /nonexistent/ctb: no such file or directory`);
    writeFileSync(join(d, "bad.spec"), "ref\tctb.local/x:v1\ncopy\ta\tb\n");
    r = spawnSync(tool, ["build", "-spec", join(d, "bad.spec"), "-out", join(d, "x.tar")], {
      encoding: "utf8",
    });
    expect(r.stderr).toContain(`${join(d, "bad.spec")}:2: unknown directive "copy"`);
    const s = spawnSync("bash", ["testbed/cluster/kubelet/images/build.sh", "nginx"], { encoding: "utf8" });
    expect(s.status).toBe(2);
    expect(s.stderr).toContain("unknown image 'nginx' (pause, echo, testbed)");
  });

  it("builds deploy/'s image from the tree: node, the bundle, the runtime packages, the agent's tools", () => {
    const img = readImage(built.testbed!.tarball);
    expect(img.repoTags).toEqual(["contrail-k8s-testbed:dev"]);
    // as deploy/Dockerfile: ENTRYPOINT ["node", "/app/bin/ctb"], WORKDIR /app
    expect(img.config.config.Entrypoint).toEqual(["node", "/app/bin/ctb"]);
    expect(img.config.config.WorkingDir).toBe("/app");
    const [system, app] = img.layers.map((l) =>
      layerListing(built.testbed!.tarball, l).map((x) => x.split(/\s+/).slice(5).join(" ")),
    );
    expect(system).toEqual(
      expect.arrayContaining([
        "usr/local/bin/node",
        "lib64/ld-linux-x86-64.so.2",
        "lib/x86_64-linux-gnu/libstdc++.so.6",
        "usr/sbin/ip",
        "bin/sh -> busybox",
      ]),
    );
    // deploy/40-vrouter-agent.yaml's init container copies these two onto the node
    expect(app).toEqual(
      expect.arrayContaining([
        "app/bin/ctb",
        "app/dist/contrail-k8s-cni.js",
        "app/dist/ctb/ctb.js",
        "app/package.json",
      ]),
    );
    expect(app).toContain("app/node_modules/express/package.json");
    expect(app).toContain("app/node_modules/tsx/package.json");
    // development packages stay out (npm's production tree only)
    expect(app.some((p) => p.startsWith("app/node_modules/vitest/"))).toBe(false);
    expect(app.some((p) => p.startsWith("app/.git/"))).toBe(false);
  });
});
