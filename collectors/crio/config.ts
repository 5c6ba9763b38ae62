import { type Static, Type } from '@sinclair/typebox';
import { Duration } from '../../src/schema.js';
import { enabledSchema } from '../../src/schema.js';

export const configSchema = Type.Object(
  {
    enabled: enabledSchema("CRI-O's socket or its storage's container directory"),
    socket: Type.String({
      default: '/var/run/crio/crio.sock',
      minLength: 1,
      description: "CRI-O's socket, under the host root; its info endpoint (`GET /info`, `GET /containers/<id>`) is asked about new containers in the background.",
    }),
    storage_root: Type.String({
      default: '/var/lib/containers/storage',
      minLength: 1,
      description:
        "CRI-O's containers/storage root, under the host root: which containers exist, and their OCI spec (`overlay-containers/<id>/userdata/config.json`) when the socket is unavailable. Replaced by the `storage_root` CRI-O reports.",
    }),
    refresh_interval: Duration('5s', 'How often the storage directory is listed again; only specs whose config.json changed are parsed again.'),
  },
  { additionalProperties: false },
);

export type CrioConfig = Static<typeof configSchema>;
