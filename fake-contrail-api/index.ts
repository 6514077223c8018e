/**
 * Public surface of the fake Contrail VNC config API: the server, its CLI entry and the schema types.
 * Example: `import { startApiServer, type VirtualNetwork } from "../fake-contrail-api"`.
 */
export { main } from "./cli";
export { type ApiServer, type ApiServerOptions, startApiServer } from "./server";
export {
  type AccessControlList,
  type AclRule,
  defaultFqName,
  type FloatingIp,
  type InstanceIp,
  type IpamSubnet,
  type KeyValuePairs,
  type NetworkIpam,
  type PolicyRule,
  type Ref,
  type Resource,
  type ResourceType,
  SCHEMA,
  type TypeInfo,
  typeInfo,
  type VirtualMachineInterface,
  type VirtualNetwork,
  type VnSubnets,
} from "./schema";
export { macFromUuid } from "./ipam";
