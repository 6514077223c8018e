/**
 * The public network north-south worlds start from (scenario YAML fragments): project `admin`, its
 * router-external network `public` (203.0.113.0/24) and floating-IP pool `pool`, and the controller option
 * naming that pool for LoadBalancer Services and Ingresses.
 *
 * Example: `controller:\n  publicFipPool: ${PUBLIC_FIP_POOL}` … `steps:\n${PUBLIC_NETWORK_STEP}\n  - apply: …`
 */

/** The `publicFipPool` value (quoted for YAML). */
export const PUBLIC_FIP_POOL = `"{'domain': 'default-domain', 'project': 'admin', 'network': 'public', 'name': 'pool'}"`;

/** The step (an item of `steps:`, indented two spaces) that creates them. */
export const PUBLIC_NETWORK_STEP = `  - vnc:
      - create: { type: project, fqName: default-domain:admin }
      - create:
          type: virtual-network
          fqName: default-domain:admin:public
          fields: { router_external: true }
          refs:
            network-ipam:
              - to: default-domain:default-project:default-network-ipam
                attr: { ipam_subnets: [{ subnet: { ip_prefix: 203.0.113.0, ip_prefix_len: 24 } }] }
      - create: { type: floating-ip-pool, parent: default-domain:admin:public, name: pool }`;
