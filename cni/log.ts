/**
 * The plugin's log: lines buffered during the call and appended to `contrail.log-file` once at exit (stdout
 * belongs to the CNI result). Without a log file nothing is written.
 *
 * Example: `log.info("ADD k8s__default__web: veth tapeth0-1a2b3c/eth0")`.
 */
import { appendFileSync } from "node:fs";
import type { LogLevel } from "./config";

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export class Logger {
  readonly lines: string[] = [];

  constructor(
    private level: LogLevel = "info",
    private file?: string,
  ) {}

  configure(level: LogLevel, file: string | undefined): void {
    this.level = level;
    this.file = file;
  }

  private add(level: LogLevel, msg: string): void {
    if (RANK[level] <= RANK[this.level]) {
      this.lines.push(`${new Date().toISOString()} ${process.pid} ${level.toUpperCase()} ${msg}`);
    }
  }

  error(msg: string): void {
    this.add("error", msg);
  }
  warn(msg: string): void {
    this.add("warn", msg);
  }
  info(msg: string): void {
    this.add("info", msg);
  }
  debug(msg: string): void {
    this.add("debug", msg);
  }

  /** Append the buffered lines; a log that cannot be written must not fail the CNI call. */
  flush(): void {
    if (!this.file || this.lines.length === 0) return;
    try {
      appendFileSync(this.file, `${this.lines.join("\n")}\n`);
    } catch (err) {
      process.stderr.write(`contrail-k8s-cni: cannot write log ${this.file}: ${(err as Error).message}\n`);
    }
    this.lines.length = 0;
  }
}
