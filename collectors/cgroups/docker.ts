/**
 * Docker container names and images from the engine's on-disk state
 * (`<data-root>/containers/<id>/config.v2.json`), so that series carry `name` and `image`
 * without a socket. The file is rewritten by dockerd on every state change; it is read
 * once per container and again only while it was missing or unreadable.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isVanished, LookoutError } from '../../src/errors.js';

export interface DockerMeta {
  /** Without the leading slash Docker stores. */
  readonly name: string;
  /** The image as the user named it (`Config.Image`), as cAdvisor's `image` label shows it. */
  readonly image: string;
  /** Start time in seconds since the epoch, if the container has started. */
  readonly startedAt?: number;
  readonly labels: Readonly<Record<string, string>>;
}

interface ConfigV2 {
  Name?: unknown;
  Config?: { Image?: unknown; Labels?: unknown };
  State?: { StartedAt?: unknown };
}

/** Parses a config.v2.json document; throws LOOKOUT_ERR_METADATA on a document Docker does not write. */
export function parseConfigV2(text: string, id: string): DockerMeta {
  let doc: ConfigV2;
  try {
    doc = JSON.parse(text) as ConfigV2;
  } catch (err) {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `docker config.v2.json of ${id.slice(0, 12)} is not JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || typeof doc.Name !== 'string') {
    throw new LookoutError('LOOKOUT_ERR_METADATA', `docker config.v2.json of ${id.slice(0, 12)} has no Name`);
  }
  const image = typeof doc.Config?.Image === 'string' ? doc.Config.Image : '';
  const labels: Record<string, string> = {};
  const raw = doc.Config?.Labels;
  if (typeof raw === 'object' && raw !== null) {
    for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels[k] = v;
  }
  const started = typeof doc.State?.StartedAt === 'string' ? Date.parse(doc.State.StartedAt) : NaN;
  // Docker writes 0001-01-01T00:00:00Z for a container that never started.
  const startedAt = Number.isFinite(started) && started > 0 ? started / 1000 : undefined;
  return { name: doc.Name.replace(/^\//, ''), image, startedAt, labels };
}

export class DockerMetadata {
  constructor(private readonly containersDir: string) {}

  /** The container's metadata, or undefined when Docker has not written it (yet). Throws on malformed files. */
  get(id: string): DockerMeta | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.containersDir, id, 'config.v2.json'), 'utf8');
    } catch (err) {
      if (isVanished(err)) return undefined;
      throw new LookoutError('LOOKOUT_ERR_METADATA', `cannot read docker config.v2.json of ${id.slice(0, 12)}`, { cause: err });
    }
    return parseConfigV2(text, id);
  }
}
