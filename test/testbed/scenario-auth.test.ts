/**
 * A scenario's `auth:` block and its steps' `as:`/`expect:`: every mistake is reported at its file:line.
 */
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../testbed/scenario/load";

const head = `name: t
auth:
  aaaMode: rbac
  users:
    admin: { password: pw, roles: { admin: [admin] } }
    alice: { password: a }
steps:
`;

const problem = (text: string): string => {
  try {
    parseScenario(text, "s.yaml");
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
};

describe("scenario auth and acting users", () => {
  it("loads users and the step's actor", () => {
    const s = parseScenario(
      `${head}  - as: alice\n    expect: forbidden\n    get: { kind: Pod, namespace: x }\n`,
      "s.yaml",
    );
    expect(s.auth?.aaaMode).toBe("rbac");
    expect([...s.auth!.identity.users.keys()]).toEqual(["admin", "alice"]);
    expect(s.steps[0]).toMatchObject({ kind: "get", as: { user: "alice" }, outcome: "forbidden", line: 8 });
  });

  it("names an unknown user, a step that cannot act, a missing auth block and an identity mistake at their lines", () => {
    expect(problem(`${head}  - as: carol\n    get: { kind: Pod }\n`)).toBe(
      's.yaml:8: as: no user "carol" in auth.users (users: admin, alice)',
    );
    expect(problem(`${head}  - as: alice\n    wait: { pods: {} }\n`)).toMatch(
      /^s\.yaml:8: as: goes with apply, delete, patch, label, annotate, vnc, get steps, not wait$/,
    );
    expect(problem("name: t\nsteps:\n  - as: alice\n    get: { kind: Pod }\n")).toMatch(
      /^s\.yaml:3: as: alice: the scenario has no auth: block/,
    );
    expect(
      problem(
        head.replace("alice: { password: a }", "alice: { password: a, roles: { 'a:b': [x] } }") +
          "  - get: { kind: Pod }\n",
      ),
    ).toBe('s.yaml:6: auth: user alice: project name "a:b" is not a keystone name');
    expect(problem(head.replace("aaaMode: rbac", "aaaMode: rbca") + "  - get: { kind: Pod }\n")).toMatch(
      /^s\.yaml:3: /,
    );
    expect(
      problem(
        head.replace("roles: { admin: [admin] }", "roles: { admin: [member] }") + "  - get: { kind: Pod }\n",
      ),
    ).toMatch(/^s\.yaml:4: auth\.users: no user holds the admin role/);
  });
});
