/**
 * Command lines as the vrouter utilities read them: glibc's `getopt_long` (long options by unique prefix,
 * `--opt value` or `--opt=value`, clustered short options, arguments permuted), with glibc's own messages for
 * what it refuses, so a mistyped runbook command fails here as it fails on a compute node.
 *
 * Example: `getoptLong("vif", ["--li"], "bg:l", [{ name: "list", arg: false }])`
 *          → `{ opts: [{ name: "list" }], positionals: [], errors: [] }`
 */

export interface LongOption {
  name: string;
  arg: boolean;
}

export interface ParsedOpt {
  /** The long option's name, or the short option's letter. */
  name: string;
  value?: string;
}

export interface Parsed {
  opts: ParsedOpt[];
  positionals: string[];
  /** glibc's messages ("vif: unrecognized option '--x'"), in order; the tool prints its usage after them. */
  errors: string[];
}

/** `shorts`: getopt's optstring ("g:l" = -g takes an argument, -l does not). */
export function getoptLong(prog: string, argv: string[], shorts: string, longs: LongOption[]): Parsed {
  const out: Parsed = { opts: [], positionals: [], errors: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const given = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const exact = longs.find((l) => l.name === given);
      const prefixed = longs.filter((l) => l.name.startsWith(given));
      const opt = exact ?? (prefixed.length === 1 ? prefixed[0] : undefined);
      if (!opt) {
        out.errors.push(
          prefixed.length > 1
            ? `${prog}: option '--${given}' is ambiguous; possibilities:${prefixed.map((l) => ` '--${l.name}'`).join("")}`
            : `${prog}: unrecognized option '--${given}'`,
        );
        continue;
      }
      if (!opt.arg) {
        if (eq >= 0) out.errors.push(`${prog}: option '--${opt.name}' doesn't allow an argument`);
        else out.opts.push({ name: opt.name });
        continue;
      }
      if (eq >= 0) out.opts.push({ name: opt.name, value: a.slice(eq + 1) });
      else if (i + 1 < argv.length) out.opts.push({ name: opt.name, value: argv[++i]! });
      else out.errors.push(`${prog}: option '--${opt.name}' requires an argument`);
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const at = shorts.indexOf(c);
        if (at < 0 || c === ":") {
          out.errors.push(`${prog}: invalid option -- '${c}'`);
          continue;
        }
        if (shorts[at + 1] !== ":") {
          out.opts.push({ name: c });
          continue;
        }
        // the rest of the cluster, else the next word, is the argument
        if (j + 1 < a.length) out.opts.push({ name: c, value: a.slice(j + 1) });
        else if (i + 1 < argv.length) out.opts.push({ name: c, value: argv[++i]! });
        else out.errors.push(`${prog}: option requires an argument -- '${c}'`);
        break;
      }
      continue;
    }
    out.positionals.push(a);
  }
  return out;
}

/**
 * C's strtoul(s, NULL, 0) as the tools call it: leading blanks, an optional sign, 0x hex / 0 octal / decimal,
 * stopping at the first character that is not a digit; no digits at all is 0.
 */
export function strtoul(s: string): number {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(s);
  if (!m) return 0;
  const body = m[2]!;
  const v = /^0[xX]/.test(body)
    ? Number.parseInt(body.slice(2), 16)
    : body.startsWith("0")
      ? Number.parseInt(body, 8) || 0
      : Number(body);
  return m[1] === "-" ? -v : v;
}
