import { type Static, Type } from '@sinclair/typebox';

export const configSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Collect cgroup statistics of every container and cgroup.' }),
    raw_cgroups: Type.Boolean({
      default: true,
      description: 'Also report cgroups that are not containers (the root `/`, systemd services, slices) with `image=""` and `name=""`, as cAdvisor does. The `image!=""` filter selects containers only.',
    }),
    max_open_files: Type.Integer({
      minimum: 0,
      default: 50000,
      description: 'Cgroup files kept open between collections and re-read in place; past this many, files are opened and closed on each read. Never more than three quarters of the process\'s open-files limit (and 2048 below it), whatever is set here.',
    }),
    network: Type.Boolean({
      default: true,
      description: "Report each container's network interfaces from `/proc/<pid>/net/dev` of a process in its network namespace (once per shared namespace; nothing for host-network containers).",
    }),
    network_interface_exclude: Type.String({
      default: '^(lo|veth.*|docker.*|nerdctl.*)$',
      description: "Interfaces left out, as a regular expression over the interface name (cAdvisor's default set). Use `^(veth.*|docker.*|nerdctl.*)$` to include loopback.",
    }),
  },
  { additionalProperties: false },
);

export type CgroupsConfig = Static<typeof configSchema>;
