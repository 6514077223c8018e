/**
 * The daemons write through the controller's VNC client (`controller/vnc/client.ts`), as the real daemons and
 * kube-manager share vnc_api; its write type is re-exported here for code that imports it from this path.
 */
export type { VncWrite } from "../../controller/vnc/client";
