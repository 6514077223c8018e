import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // netns and control-plane suites touch machine-wide state (namespaces, ports): keep files in separate forks
    pool: "forks",
  },
});
