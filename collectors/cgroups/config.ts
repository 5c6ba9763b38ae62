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
      description: 'Cgroup files kept open between collections and re-read in place; past this many, files are opened and closed on each read.',
    }),
    docker_data_root: Type.String({
      default: '/var/lib/docker',
      description: "Docker's data root, under the host root, where container names and images are read from `containers/<id>/config.v2.json`.",
    }),
  },
  { additionalProperties: false },
);

export type CgroupsConfig = Static<typeof configSchema>;
