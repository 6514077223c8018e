/**
 * virtual-machine-interface (upstream VirtualMachineInterfaceServer): a MAC address derived from the uuid
 * when the client gives none.
 * Example: uuid `0a1b2c3d-…` → `virtual_machine_interface_mac_addresses: {mac_address: ["02:0a:1b:2c:3d:…"]}`.
 */
import { macFromUuid } from "../ipam";
import type { TypeRules } from "./rules";

export const virtualMachineInterface: TypeRules = {
  preCreate(_ctx, obj) {
    const p = obj.props;
    const macs = p.virtual_machine_interface_mac_addresses as { mac_address?: string[] } | undefined;
    if (!macs?.mac_address?.length)
      p.virtual_machine_interface_mac_addresses = { mac_address: [macFromUuid(obj.uuid)] };
  },
};
