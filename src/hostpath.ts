/** Paths of the host, as seen from an agent that may run with the host mounted at a root such as `/host`. */
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const MAX_LINKS = 40;

/**
 * Where a host path is under the host root, following symlinks as the host would: an
 * absolute link target (a host's `/var/run -> /run`) is taken from the host root, not from
 * the agent's own filesystem. With the root `/` the path is returned as is. Components
 * that do not exist are kept as written.
 */
export function hostPath(root: string, path: string): string {
  if (root === '/' || root === '') return path;
  const todo = path.split('/').filter((p) => p.length > 0);
  let done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift() as string;
    if (name === '.') continue;
    if (name === '..') {
      done.pop();
      continue;
    }
    let target: string | undefined;
    try {
      const p = join(root, ...done, name);
      if (lstatSync(p).isSymbolicLink()) target = readlinkSync(p);
    } catch {
      // Missing or unreadable: keep the component as written.
    }
    if (target === undefined || ++links > MAX_LINKS) {
      done.push(name);
      continue;
    }
    if (target.startsWith('/')) done = [];
    todo.unshift(...target.split('/').filter((p) => p.length > 0));
  }
  return join(root, ...done);
}

